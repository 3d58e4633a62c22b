/**
 * One `GET /health` of a user's container through Fly's proxy (which starts a stopped or suspended
 * machine on the way), made with the object's metered fetch so it counts like every container call.
 * Resolves to the status, or 0 when the container could not be reached in time; never throws.
 */
export async function probeHealth(fetcher: typeof fetch, appUrl: string, timeoutMs: number): Promise<number> {
  try {
    const response = await fetcher(`${appUrl}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  }
}
