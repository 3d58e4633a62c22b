/** Where a message goes: the user's own container or direct Bedrock. Pure, so every channel agrees. */
import type { Profile } from "../profile.ts";

export type Route = "direct" | "container";

/**
 * The container when the tier is paid, the user has not forced direct chat, the app is ready and its
 * circuit is closed; direct Bedrock otherwise.
 */
export function chooseRoute(profile: Pick<Profile, "tier" | "chatMode">, flyState: string, circuitOpen: boolean): Route {
  return profile.tier === "paid" && profile.chatMode === "auto" && flyState === "ready" && !circuitOpen ? "container" : "direct";
}
