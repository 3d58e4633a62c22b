/**
 * The status panel: account and route (with the chatMode switch), the Fly container (state, live
 * provisioning steps from `fly` frames, provision / sync / delete), the Telegram bot, and today's
 * usage. Every part copes with its data missing (a backend part not built yet): it says
 * "unavailable" and the rest keeps working.
 */
import { ApiError, type Api } from "./api.ts";
import { byId, confirmDialog, h, icon, setChildren, toast } from "./dom.ts";
import { formatDateTime, formatRelative, formatTokens, formatUsd, toMs, utcDate } from "./format.ts";
import { safeHref } from "./markdown.ts";
import { FLY_STEPS, type FlyFrame, type FlyStatus, type HelloFrame, type Me, type TelegramStatus, type Usage, type UsageDay } from "./types.ts";

const STEP_LABELS: Record<string, string> = {
  create_app: "Create the app",
  set_secrets: "Store secrets and workspace",
  allocate_ips: "Allocate IP addresses",
  create_machines: "Create the machine",
  wait_started: "Wait for it to start",
  health_check: "Health check",
};

const STATE_LABELS: Record<string, string> = {
  none: "Not set up",
  provisioning: "Setting up",
  ready: "Ready",
  failed: "Failed",
  deleting: "Deleting",
};

/** Steps of a provisioning run and how far it got. Pure, for the step list. */
export function stepStates(state: string | undefined, step: string | null | undefined): ("done" | "current" | "failed" | "pending")[] {
  const idx = step ? FLY_STEPS.indexOf(step as (typeof FLY_STEPS)[number]) : -1;
  return FLY_STEPS.map((_, i) => {
    if (state === "ready") return "done";
    if (idx < 0) return "pending";
    if (i < idx) return "done";
    if (i === idx) return state === "failed" ? "failed" : state === "provisioning" ? "current" : "pending";
    return "pending";
  });
}

export class StatusView {
  private readonly root = byId("panel-status");
  private me: Me | null = null;
  private fly: FlyStatus | null = null;
  private telegram: TelegramStatus | null = null;
  private usageDays: UsageDay[] | null = null;
  private usageError = false;
  private flyPoll: number | undefined;
  private usageTimer: number | undefined;

  // Cards
  private readonly accountBody = h("div", { class: "card-body" });
  private readonly flyBadge = h("span", { id: "fly-state", class: "badge", "data-testid": "fly-state", role: "status", "aria-live": "polite" });
  private readonly flyBody = h("div", { class: "card-body" });
  private readonly telegramBody = h("div", { class: "card-body" });
  private readonly usageBody = h("div", { class: "card-body" });

  // Persistent controls (re-rendering must not steal focus or typed text)
  private readonly modeSwitch = h("input", { type: "checkbox", id: "chat-mode-direct", role: "switch", class: "switch-input" });
  private readonly modeHint = h("p", { id: "chat-mode-hint", class: "field-hint" });
  private readonly provisionBtn = h("button", { type: "button", id: "fly-provision", class: "btn btn--primary btn--small" }, "Set up container");
  private readonly syncBtn = h("button", { type: "button", id: "fly-sync", class: "btn btn--ghost btn--small" }, icon("refresh"), "Sync files");
  private readonly deleteBtn = h("button", { type: "button", id: "fly-delete", class: "btn btn--ghost btn--small btn--danger-text" }, icon("trash"), "Delete");
  private readonly flyActions = h("div", { class: "card-actions" }, this.provisionBtn, this.syncBtn, this.deleteBtn);
  private readonly tgForm = h("form", { id: "telegram-form", class: "tg-form", novalidate: true });
  private readonly tgToken = h("input", {
    id: "telegram-token",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "123456:ABC-DEF…",
    "aria-describedby": "telegram-token-hint",
  });
  private readonly tgClaimBtn = h("button", { type: "submit", id: "telegram-claim", class: "btn btn--primary btn--small" }, "Get a bot");
  private readonly tgReleaseBtn = h("button", { type: "button", id: "telegram-release", class: "btn btn--ghost btn--small btn--danger-text" }, "Release bot");

  constructor(private readonly api: Api) {
    const card = (id: string, title: string, body: HTMLElement, extra?: HTMLElement): HTMLElement =>
      h("section", { class: "card", id, "aria-labelledby": `${id}-title` }, h("div", { class: "card-head" }, h("h2", { id: `${id}-title` }, title), extra), body);
    this.root.append(
      card("account-card", "Account", this.accountBody),
      card("fly-card", "Your container", this.flyBody, this.flyBadge),
      card("telegram-card", "Telegram", this.telegramBody),
      card("usage-card", "Today's usage", this.usageBody),
    );

    this.modeSwitch.addEventListener("change", () => void this.changeMode());
    this.provisionBtn.addEventListener("click", () => void this.provision());
    this.syncBtn.addEventListener("click", () => void this.sync());
    this.deleteBtn.addEventListener("click", () => void this.deleteApp());
    this.tgForm.append(
      h("label", { for: "telegram-token", class: "field-label" }, "Bot token (optional)"),
      this.tgToken,
      h("p", { id: "telegram-token-hint", class: "field-hint" }, "Paste a token from @BotFather to use your own bot, or leave it empty to get one from the pool."),
      h("div", { class: "row-end" }, this.tgClaimBtn),
    );
    this.tgToken.addEventListener("input", () => {
      this.tgClaimBtn.textContent = this.tgToken.value.trim() ? "Use my bot" : "Get a bot";
    });
    this.tgForm.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.claim();
    });
    this.tgReleaseBtn.addEventListener("click", () => void this.release());
    this.renderAll();
  }

  // ---- inputs from the app ----

  setMe(me: Me): void {
    this.me = me;
    if (me.fly !== undefined) this.fly = me.fly ?? null;
    if (me.telegram !== undefined) this.telegram = me.telegram ?? null;
    this.renderAll();
  }

  /** `hello` carries tier, route and the Fly state: fresher than /api/me after a reconnect. */
  applyHello(f: HelloFrame): void {
    if (!this.me) this.me = {};
    if (f.tier) this.me.tier = f.tier;
    if (f.mode) this.me.mode = f.mode;
    if (f.fly?.state && f.fly.state !== this.fly?.state) this.applyFlyFrame({ type: "fly", state: f.fly.state });
    this.renderAll();
  }

  /** A `fly` frame: provisioning progress, pushed as it happens. */
  applyFlyFrame(f: FlyFrame): void {
    const prev = this.fly?.state;
    this.fly = { ...(this.fly ?? {}), ...(f.state ? { state: f.state } : {}), step: f.step ?? this.fly?.step ?? null, detail: f.detail };
    this.renderFly();
    // The frame has no app, url or machines: fetch the whole status when a run ends.
    if (f.state && f.state !== prev && ["ready", "failed", "none"].includes(f.state)) void this.refreshFly();
    this.updatePolling();
  }

  async refreshMe(): Promise<void> {
    try {
      this.setMe(await this.api.me());
    } catch {
      /* keep what we have */
    }
  }

  async refreshFly(): Promise<void> {
    try {
      this.fly = await this.api.flyStatus();
    } catch {
      /* keep the last known state */
    }
    this.renderFly();
    this.renderAccount();
    this.updatePolling();
  }

  async refreshUsage(): Promise<void> {
    try {
      this.usageDays = await this.api.usage(7);
      this.usageError = false;
    } catch {
      this.usageError = true;
    }
    this.renderUsage();
  }

  /** After a reply: usage changed. Debounced so a burst of replies makes one request. */
  usageChangedSoon(): void {
    window.clearTimeout(this.usageTimer);
    this.usageTimer = window.setTimeout(() => void this.refreshUsage(), 1500);
  }

  reset(): void {
    this.me = null;
    this.fly = null;
    this.telegram = null;
    this.usageDays = null;
    this.usageError = false;
    this.tgToken.value = "";
    window.clearInterval(this.flyPoll);
    this.flyPoll = undefined;
    this.renderAll();
  }

  // ---- rendering ----

  private renderAll(): void {
    this.renderAccount();
    this.renderFly();
    this.renderTelegram();
    this.renderUsage();
  }

  private get isPaid(): boolean {
    return this.me?.tier === "paid";
  }

  private renderAccount(): void {
    const me = this.me;
    if (!me) {
      setChildren(this.accountBody, h("p", { class: "muted" }, "Loading…"));
      return;
    }
    const tier = me.tier === "paid" ? "Paid" : me.tier === "free" ? "Free" : "Unknown";
    const routeText =
      me.mode === "container" ? "Your container" : me.mode === "direct" ? "Claude, directly (Bedrock)" : "Unavailable";

    this.modeSwitch.checked = me.chatMode === "direct";
    this.modeSwitch.disabled = !this.isPaid || me.chatMode === undefined;
    this.modeHint.textContent = !this.isPaid
      ? "Free accounts always talk to Claude directly."
      : this.modeSwitch.checked
        ? "On: every reply comes from Claude directly, even when your container is running."
        : "Off: your container answers when it is ready; Claude directly otherwise.";

    setChildren(
      this.accountBody,
      h(
        "dl",
        { class: "facts" },
        h("dt", null, "Signed in as"),
        h("dd", { class: "truncate", id: "account-email-value", title: me.email ?? "" }, me.email ?? "Unavailable"),
        h("dt", null, "Plan"),
        h("dd", null, h("span", { class: `badge badge--${me.tier === "paid" ? "accent" : "neutral"}`, id: "account-tier" }, tier)),
        h("dt", null, "Next reply from"),
        h("dd", { id: "account-route" }, routeText),
      ),
      h(
        "div",
        { class: "switch-row" },
        h("label", { for: "chat-mode-direct", class: "switch-label" }, "Always answer directly"),
        h("span", { class: "switch" }, this.modeSwitch),
      ),
      this.modeHint,
      me.userId ? h("p", { class: "tiny muted" }, "User id ", h("code", null, me.userId)) : null,
    );
    this.modeSwitch.setAttribute("aria-describedby", "chat-mode-hint");
  }

  private renderFly(): void {
    const fly = this.fly;
    const state = typeof fly?.state === "string" ? fly.state : undefined;
    this.flyBadge.textContent = state ? (STATE_LABELS[state] ?? state) : "Unavailable";
    this.flyBadge.dataset.state = state ?? "unavailable";
    this.flyBadge.className = `badge badge--fly-${state ?? "unavailable"}`;

    const body: (Node | null)[] = [];
    if (!fly || !state) {
      body.push(h("p", { class: "muted" }, "Container status is unavailable right now."));
    } else if (state === "none") {
      body.push(h("p", null, "Your companion can run in its own container on Fly.io, with its own tools. Until then, Claude answers directly."));
    } else if (state === "ready") {
      body.push(this.flyFacts(fly));
    } else if (state === "deleting") {
      body.push(h("p", { class: "with-spinner" }, h("span", { class: "spinner spinner--tiny", "aria-hidden": "true" }), "Removing the app, its machines and addresses…"));
    }
    if (state === "provisioning" || state === "failed") {
      body.push(this.stepList(state, fly?.step, fly?.detail));
      if (state === "failed") body.push(this.failure(fly!));
    }

    // Actions
    const canProvision = state === "none" || state === "failed";
    this.provisionBtn.hidden = !canProvision && state !== undefined;
    this.provisionBtn.textContent = state === "failed" ? "Try again" : "Set up container";
    // An unknown tier (profile unavailable) leaves the decision to the server.
    this.provisionBtn.disabled = this.me?.tier === "free" || !canProvision;
    this.syncBtn.hidden = state !== "ready";
    this.deleteBtn.hidden = !(state === "ready" || state === "failed" || state === "provisioning");
    body.push(this.flyActions);
    if (this.me?.tier === "free" && (canProvision || !state)) {
      body.push(h("p", { class: "field-hint", id: "fly-paid-note" }, "Your own container is part of the paid plan. Free accounts chat with Claude directly."));
    }
    setChildren(this.flyBody, body);
  }

  private flyFacts(fly: FlyStatus): HTMLElement {
    const url = fly.url ? safeHref(fly.url) : null;
    const machines = Array.isArray(fly.machines) ? fly.machines : [];
    const ws = fly.workspace;
    const synced = ws?.sha256 && ws.syncedSha256 ? ws.sha256 === ws.syncedSha256 : undefined;
    return h(
      "dl",
      { class: "facts" },
      h("dt", null, "App"),
      h("dd", null, url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, fly.app ?? url, icon("external", "icon icon--small")) : (fly.app ?? "—")),
      fly.region ? [h("dt", null, "Region"), h("dd", null, fly.region.toUpperCase())] : null,
      h("dt", null, "Machines"),
      h(
        "dd",
        null,
        machines.length === 0
          ? "—"
          : h(
              "ul",
              { class: "machine-list" },
              machines.map((m) => h("li", null, h("span", { class: `dot-state dot-state--${m.state === "started" ? "ok" : "idle"}`, "aria-hidden": "true" }), `${m.state ?? "unknown"}`, m.region ? ` · ${m.region}` : "")),
            ),
      ),
      ws
        ? [
            h("dt", null, "Files"),
            h(
              "dd",
              null,
              ws.pendingSync ? "Sync pending…" : synced === false ? "Changes not synced yet" : synced ? "In sync" : "—",
              ws.lastSyncAt ? h("span", { class: "muted" }, ` · ${formatRelative(ws.lastSyncAt)}`) : null,
            ),
          ]
        : null,
    );
  }

  private stepList(state: string, step: string | null | undefined, detail: string | undefined): HTMLElement {
    const states = stepStates(state, step);
    return h(
      "ol",
      { class: "steps", id: "fly-steps", "aria-label": "Provisioning steps" },
      FLY_STEPS.map((s, i) => {
        const st = states[i] ?? "pending";
        const srState = { done: "done", current: "in progress", failed: "failed", pending: "to do" }[st];
        return h(
          "li",
          { class: `step step--${st}`, "data-step": s, "aria-current": st === "current" ? "step" : null },
          h("span", { class: "step-mark", "aria-hidden": "true" }, st === "done" ? icon("check", "icon icon--small") : st === "failed" ? icon("close", "icon icon--small") : null),
          h("span", { class: "step-label" }, STEP_LABELS[s] ?? s, h("span", { class: "sr-only" }, ` (${srState})`)),
          st === "current" && detail ? h("span", { class: "step-detail" }, detail) : null,
        );
      }),
    );
  }

  private failure(fly: FlyStatus): HTMLElement {
    const err = typeof fly.lastError === "string" ? fly.lastError : fly.lastError?.message;
    const retryAt = toMs(fly.nextRetryAt);
    return h(
      "div",
      { class: "banner banner--error", role: "status" },
      h("p", null, err ? `Setup failed: ${err}` : "Setup failed."),
      fly.attempts ? h("p", { class: "tiny" }, `${fly.attempts} attempt${fly.attempts === 1 ? "" : "s"}${retryAt ? ` · next try ${formatDateTime(retryAt)}` : ""}`) : null,
    );
  }

  private renderTelegram(): void {
    const t = this.telegram;
    if (!this.me) {
      setChildren(this.telegramBody, h("p", { class: "muted" }, "Loading…"));
      return;
    }
    const claimed = !!t && (t.claimed === true || !!t.botUsername);
    if (claimed) {
      const link = t?.linkUrl ? safeHref(t.linkUrl) : null;
      setChildren(
        this.telegramBody,
        h("p", { id: "telegram-bot" }, "Your bot: ", h("strong", null, t?.botUsername ? `@${t.botUsername.replace(/^@/, "")}` : "claimed")),
        link
          ? h("p", null, h("a", { class: "btn btn--primary btn--small", id: "telegram-link", href: link, target: "_blank", rel: "noopener noreferrer" }, "Open in Telegram", icon("external", "icon icon--small")))
          : null,
        h(
          "p",
          { class: "field-hint", id: "telegram-hint" },
          t?.ownerBound || t?.linked
            ? "Your Telegram chat is connected."
            : "Open the link and press Start: that connects your Telegram chat to your companion.",
          t?.fromPool ? " This bot comes from the shared pool." : "",
        ),
        h("div", { class: "card-actions" }, this.tgReleaseBtn),
      );
    } else {
      setChildren(
        this.telegramBody,
        t === null ? h("p", { class: "muted tiny" }, "Telegram status unavailable.") : null,
        h("p", null, "Talk to your companion from Telegram too."),
        this.tgForm,
      );
    }
  }

  private renderUsage(): void {
    const today = utcDate();
    let day: Usage | undefined;
    if (this.usageDays) day = this.usageDays.find((d) => d.date === today) ?? { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, images: 0, costUsd: 0 };
    else if (this.me?.usage) day = this.me.usage;
    if (!day) {
      setChildren(this.usageBody, h("p", { class: "muted" }, this.usageError || this.me ? "Usage is unavailable right now." : "Loading…"));
      return;
    }
    const stat = (label: string, value: string, id: string): HTMLElement =>
      h("div", { class: "stat" }, h("dt", null, label), h("dd", { id }, value));
    setChildren(
      this.usageBody,
      h(
        "div",
        { class: "usage-cost" },
        h("span", { class: "usage-cost-value", id: "usage-cost" }, formatUsd(day.costUsd ?? 0)),
        h("span", { class: "muted" }, " spent today"),
      ),
      h(
        "dl",
        { class: "stats" },
        stat("Input", formatTokens(day.inputTokens), "usage-input"),
        stat("Output", formatTokens(day.outputTokens), "usage-output"),
        stat("Cache read", formatTokens(day.cacheReadTokens), "usage-cache-read"),
        stat("Cache write", formatTokens(day.cacheWriteTokens), "usage-cache-write"),
        day.images ? stat("Images", String(day.images), "usage-images") : null,
      ),
      this.usageDays ? this.weekChart(this.usageDays) : null,
    );
  }

  /** Seven bars of cost per day (UTC), today last. */
  private weekChart(days: UsageDay[]): HTMLElement {
    const byDate = new Map(days.map((d) => [d.date, d]));
    const series = Array.from({ length: 7 }, (_, i) => {
      const date = utcDate(Date.now() - (6 - i) * 86_400_000);
      return { date, d: byDate.get(date) };
    });
    const max = Math.max(...series.map((s) => s.d?.costUsd ?? 0), 0.0001);
    const fmtDay = new Intl.DateTimeFormat(undefined, { weekday: "short", timeZone: "UTC" });
    const fmtLong = new Intl.DateTimeFormat(undefined, { weekday: "long", month: "short", day: "numeric", timeZone: "UTC" });
    return h(
      "figure",
      { class: "week" },
      h("figcaption", { class: "tiny muted" }, "Last 7 days"),
      h(
        "ol",
        { class: "bars" },
        series.map(({ date, d }) => {
          const when = new Date(`${date}T12:00:00Z`);
          const cost = d?.costUsd ?? 0;
          const tokens = (d?.inputTokens ?? 0) + (d?.outputTokens ?? 0) + (d?.cacheReadTokens ?? 0) + (d?.cacheWriteTokens ?? 0);
          const summary = `${fmtLong.format(when)}: ${formatUsd(cost)}, ${formatTokens(tokens)} tokens`;
          const bar = h("span", { class: "bar-fill" });
          // A CSS custom property set through CSSOM: allowed under the CSP, unlike style="".
          bar.style.setProperty("--v", String(Math.max(cost / max, cost > 0 ? 0.04 : 0)));
          return h(
            "li",
            { class: `bar${date === utcDate() ? " bar--today" : ""}`, title: summary },
            h("span", { class: "bar-track", "aria-hidden": "true" }, bar),
            h("span", { class: "bar-label", "aria-hidden": "true" }, fmtDay.format(when)),
            h("span", { class: "sr-only" }, summary),
          );
        }),
      ),
    );
  }

  // ---- actions ----

  private updatePolling(): void {
    // Frames push progress; polling is only the fallback while something is in motion.
    const moving = this.fly?.state === "provisioning" || this.fly?.state === "deleting";
    if (moving && this.flyPoll === undefined) this.flyPoll = window.setInterval(() => void this.refreshFly(), 5000);
    if (!moving && this.flyPoll !== undefined) {
      window.clearInterval(this.flyPoll);
      this.flyPoll = undefined;
    }
  }

  private async changeMode(): Promise<void> {
    const want = this.modeSwitch.checked ? "direct" : "auto";
    this.modeSwitch.disabled = true;
    try {
      const me = await this.api.setChatMode(want);
      this.me = { ...this.me, ...me, chatMode: me.chatMode ?? want };
      toast(want === "direct" ? "Replies will come from Claude directly." : "Your container answers when it is ready.", "success");
    } catch (err) {
      this.modeSwitch.checked = !this.modeSwitch.checked;
      toast(err instanceof ApiError ? err.message : "The setting could not be changed.", "error");
    }
    this.renderAccount();
    this.modeSwitch.focus();
  }

  private async provision(): Promise<void> {
    this.provisionBtn.disabled = true;
    try {
      const status = await this.api.flyProvision();
      this.fly = { ...(this.fly ?? {}), ...status, state: status.state ?? "provisioning" };
      toast("Setting up your container. This takes a minute or two.", "info");
    } catch (err) {
      toast(err instanceof ApiError ? err.message : "Provisioning could not start.", "error");
    }
    this.renderFly();
    this.updatePolling();
  }

  private async sync(): Promise<void> {
    this.syncBtn.disabled = true;
    try {
      const r = await this.api.flySync();
      if (r.queued) toast("Sync queued: your files go to the container shortly.", "info");
      else if (r.changed && r.changed.length > 0)
        toast(`Synced ${r.changed.join(", ")}${r.machinesUpdated ? ` to ${r.machinesUpdated} machine${r.machinesUpdated === 1 ? "" : "s"}` : ""}.`, "success");
      else toast("Already in sync: nothing to send.", "success");
      void this.refreshFly();
    } catch (err) {
      toast(err instanceof ApiError ? err.message : "Sync failed.", "error");
    } finally {
      this.syncBtn.disabled = false;
    }
  }

  private async deleteApp(): Promise<void> {
    const ok = await confirmDialog({
      title: "Delete your container?",
      message: `The Fly app${this.fly?.app ? ` ${this.fly.app}` : ""}, its machines and its addresses will be removed. Your workspace files and chat history stay here, and you can set it up again later.`,
      confirmLabel: "Delete container",
      danger: true,
    });
    if (!ok) return;
    try {
      await this.api.flyDelete();
      this.fly = { ...(this.fly ?? {}), state: "deleting" };
      toast("Deleting your container…", "info");
    } catch (err) {
      toast(err instanceof ApiError ? err.message : "The container could not be deleted.", "error");
    }
    this.renderFly();
    this.updatePolling();
  }

  private async claim(): Promise<void> {
    const token = this.tgToken.value.trim();
    this.tgClaimBtn.disabled = true;
    try {
      const r = await this.api.telegramClaim(token || undefined);
      this.telegram = { ...r, claimed: true };
      this.tgToken.value = "";
      this.tgClaimBtn.textContent = "Get a bot";
      toast(r.botUsername ? `@${r.botUsername} is yours.` : "Bot claimed.", "success");
      this.renderTelegram();
      document.getElementById("telegram-link")?.focus();
    } catch (err) {
      toast(err instanceof ApiError ? err.message : "The bot could not be claimed.", "error");
    } finally {
      this.tgClaimBtn.disabled = false;
    }
  }

  private async release(): Promise<void> {
    const ok = await confirmDialog({
      title: "Release your Telegram bot?",
      message: "The bot stops answering you on Telegram. A bot from the pool goes back to the pool.",
      confirmLabel: "Release bot",
      danger: true,
    });
    if (!ok) return;
    try {
      await this.api.telegramRelease();
      this.telegram = { claimed: false };
      toast("Bot released.", "success");
    } catch (err) {
      toast(err instanceof ApiError ? err.message : "The bot could not be released.", "error");
    }
    this.renderTelegram();
  }
}
