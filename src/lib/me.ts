/** GET /api/me: the profile with where the next message goes, Fly and Telegram state, today's usage. */
import type { Profile } from "./profile.ts";
import type { Sql } from "./sql.ts";
import { usageDays, type DayUsage } from "./usage.ts";

import type { FlyStatus } from "./fly/fly-service.ts";

export interface TelegramSummary {
  claimed: boolean;
  botUsername?: string;
  linkUrl?: string;
  ownerBound?: boolean;
  fromPool?: boolean;
}

export interface Me {
  userId: string;
  email: string;
  tier: Profile["tier"];
  chatMode: Profile["chatMode"];
  mode: "direct" | "container";
  fly: FlyStatus | { state: "none" };
  telegram: TelegramSummary;
  usage: DayUsage;
}

export interface MeParts {
  mode?: "direct" | "container";
  fly?: FlyStatus | { state: "none" };
  telegram?: TelegramSummary;
}

export function buildMe(profile: Profile, sql: Sql, parts: MeParts = {}): Me {
  return {
    userId: profile.userId,
    email: profile.email,
    tier: profile.tier,
    chatMode: profile.chatMode,
    mode: parts.mode ?? "direct",
    fly: parts.fly ?? { state: "none" },
    telegram: parts.telegram ?? { claimed: false },
    usage: usageDays(sql, 1)[0]!,
  };
}
