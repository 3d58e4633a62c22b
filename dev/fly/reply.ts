/**
 * What a Machines API route of the Fly stand-in answers, and Fly's error shape:
 * `{"error": message}` or `{"error": message, "status": code}` (e.g. "not_found",
 * "failed_precondition"), as the reference documents it.
 */
export interface Reply { status: number; body?: unknown; headers?: Record<string, string> }

export const err = (status: number, error: string, code?: string): Reply => ({ status, body: code ? { error, status: code } : { error } });
