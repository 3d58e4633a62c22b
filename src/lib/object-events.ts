/**
 * The few things one service of a user's object tells the others, by name, instead of closures that
 * reach into each other: the service that makes a change emits it, the ones that care subscribe
 * when they are built. `emit` resolves once every listener has (a claim answers only after the Fly
 * sync it needs is scheduled), and a listener that throws fails the emit like a direct call would.
 */
import type { Usage } from "./usage.ts";
import type { WorkspaceChange } from "./workspace.ts";

export interface ObjectEventMap {
  /** A workspace file was written or deleted (by the person, the agent, the container, or the starter files). */
  workspaceChanged: WorkspaceChange;
  /** A Telegram bot was claimed or released: the container's Telegram secrets follow. */
  claimChanged: undefined;
  /** The container spent model tokens through the gateway (counted into the turn that is running). */
  containerUsage: Usage;
}

type Listener<K extends keyof ObjectEventMap> = (payload: ObjectEventMap[K]) => void | Promise<void>;

export class ObjectEvents {
  private readonly listeners = new Map<keyof ObjectEventMap, Listener<never>[]>();

  on<K extends keyof ObjectEventMap>(name: K, listener: Listener<K>): void {
    const list = this.listeners.get(name) ?? [];
    list.push(listener as Listener<never>);
    this.listeners.set(name, list);
  }

  async emit<K extends keyof ObjectEventMap>(name: K, payload: ObjectEventMap[K]): Promise<void> {
    const listeners = (this.listeners.get(name) ?? []) as Listener<K>[];
    await Promise.all(listeners.map((listener) => listener(payload)));
  }
}
