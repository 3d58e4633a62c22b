/**
 * SoulPrint Home, the browser app: boot, sign-in, and the wiring between the HTTP client, the
 * chat socket, the conversation model and the three views (chat, status, workspace).
 */
import { Api, ApiError } from "./api.ts";
import {
  authHeader,
  clearCredentials,
  decodeJwt,
  isEmail,
  isExpired,
  loadCredentials,
  normalizePastedToken,
  saveCredentials,
  takeTokenFromUrl,
  type Credentials,
} from "./auth.ts";
import { ChatSocket } from "./chat-socket.ts";
import { ChatStore, newMessageId } from "./chat-store.ts";
import { ChatView, errorText } from "./chat-view.ts";
import { byId, confirmDialog, toast } from "./dom.ts";
import { ImageLoader } from "./images.ts";
import { Attachments } from "./attachments.ts";
import { StatusView } from "./status-view.ts";
import { ScheduleView } from "./schedule-view.ts";
import { DataView } from "./data-view.ts";
import type { Health, Me, ServerFrame } from "./types.ts";
import { WorkspaceView } from "./workspace-view.ts";

type Phase = "boot" | "signin" | "app";
type View = "chat" | "status" | "workspace";

let phase: Phase = "boot";
let creds: Credentials | null = loadCredentials();
let health: Health = {};
let helloCount = 0;

const api = new Api(
  () => (creds ? authHeader(creds) : null),
  (message) => {
    // A 401 anywhere: back to sign-in with the server's reason (once, however many requests failed).
    if (phase === "app") void signOut(`You were signed out: ${message}`);
  },
);
const store = new ChatStore();
const images = new ImageLoader(api);
const socket = new ChatSocket({
  getTicket: () => api.chatTicket(),
  onFrame,
  onConnection: (info) => chatView.setConnection(info),
});
// The tray re-renders when an upload finishes (the view exists by then: uploads are asynchronous).
const attachments = new Attachments(api, () => chatView.renderAttachments());
const chatView = new ChatView({
  store,
  images,
  attachments,
  onSend: send,
  onCancel: cancel,
  onLoadEarlier: loadEarlier,
  onRetryConnection: () => socket.retryNow(),
});
const statusView = new StatusView(api);
const scheduleView = new ScheduleView(api);
let accountEmail: string | undefined;
const dataView = new DataView(api, {
  email: () => accountEmail,
  onDeleted: (message) => {
    teardown();
    clearCredentials();
    creds = null;
    showSignIn(message);
  },
});
byId("panel-status").append(dataView.element);
const workspaceView = new WorkspaceView(api);

// ---- boot ----

async function boot(): Promise<void> {
  const linkToken = takeTokenFromUrl();
  if (linkToken) {
    creds = { kind: "bearer", token: linkToken };
    saveCredentials(creds);
  }
  setBootMessage("Loading…", false);
  try {
    health = await api.health();
  } catch (err) {
    setBootMessage(err instanceof ApiError && err.status === 0 ? "Can't reach SoulPrint. Check your connection." : "SoulPrint is unavailable right now.", true);
    return;
  }
  byId("signin-dev").hidden = health.devAuth !== true;
  byId("app-version").textContent = health.version ? `v${health.version}` : "";

  if (creds?.kind === "email" && health.devAuth !== true) creds = null;
  if (creds?.kind === "bearer" && isExpired(creds.token)) {
    clearCredentials();
    creds = null;
    showSignIn("Your sign-in link has expired. Ask for a new one, or paste a fresh token.");
    return;
  }
  if (!creds) {
    showSignIn();
    return;
  }
  await startApp();
}

function setBootMessage(text: string, failed: boolean): void {
  byId("boot-message").textContent = text;
  byId("boot-retry").hidden = !failed;
  byId("boot").dataset.failed = String(failed);
}

/** Shows the app for the current credentials; `me` when sign-in already fetched it. */
async function startApp(me?: Me): Promise<void> {
  phase = "app";
  let profile = me;
  if (!profile) {
    try {
      profile = await api.me();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return; // already back at sign-in
      profile = undefined; // /api/me unavailable: the rest of the page still works
    }
  }
  if (phase !== "app") return;
  byId("boot").hidden = true;
  byId("signin").hidden = true;
  byId("app").hidden = false;
  byId("account-email").textContent = profile?.email ?? displayName(creds);
  accountEmail = profile?.email ?? (creds?.kind === "email" ? creds.email : decodeJwt(creds?.token ?? "")?.email);
  dataView.reset();
  statusView.setMe(profile ?? {});
  if (!profile?.fly) void statusView.refreshFly();
  void statusView.refreshUsage();
  scheduleView.start();
  void workspaceView.load();
  helloCount = 0;
  socket.start();
  showView("chat");
  chatView.focusInput();
}

function displayName(c: Credentials | null): string {
  if (!c) return "";
  return c.kind === "email" ? c.email : (decodeJwt(c.token)?.email ?? "Signed in");
}

async function signOut(message?: string): Promise<void> {
  if (!message && workspaceView.isDirty()) {
    const ok = await confirmDialog({
      title: "Sign out with unsaved changes?",
      message: "Your unsaved workspace edits will be lost.",
      confirmLabel: "Sign out",
      danger: true,
    });
    if (!ok) return;
  }
  teardown();
  clearCredentials();
  creds = null;
  showSignIn(message);
}

/** Forgets everything about the signed-in user: socket, conversation, images, panels. */
function teardown(): void {
  socket.stop();
  store.clear();
  images.clear();
  attachments.clear();
  chatView.reset();
  workspaceView.reset();
  statusView.reset();
  scheduleView.reset();
}

// ---- sign-in ----

function showSignIn(message?: string): void {
  phase = "signin";
  byId("boot").hidden = true;
  byId("app").hidden = true;
  byId("signin").hidden = false;
  const msg = byId("signin-message");
  msg.textContent = message ?? "";
  msg.hidden = !message;
  const first = health.devAuth ? byId<HTMLInputElement>("signin-email") : byId<HTMLInputElement>("signin-token");
  first.focus();
}

function setFormError(id: string, text: string): void {
  const el = byId(id);
  el.textContent = text;
  el.hidden = !text;
}

/** Checks credentials with /api/me before keeping them; only a 401 rejects (a 404 may be a part not built yet). */
async function trySignIn(candidate: Credentials, errorId: string, button: HTMLButtonElement): Promise<void> {
  setFormError(errorId, "");
  button.disabled = true;
  const prev = creds;
  creds = candidate;
  try {
    let me: Me | undefined;
    try {
      me = await api.me({ quiet401: true });
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403 || err.status === 0)) throw err;
    }
    saveCredentials(candidate);
    await startApp(me);
  } catch (err) {
    creds = prev;
    setFormError(errorId, err instanceof ApiError ? err.message : "Sign-in failed. Try again.");
  } finally {
    button.disabled = false;
  }
}

byId<HTMLFormElement>("signin-email-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = byId<HTMLInputElement>("signin-email");
  const email = input.value.trim();
  if (!isEmail(email)) {
    setFormError("signin-email-error", "Enter an email address, like someone@example.com.");
    input.setAttribute("aria-invalid", "true");
    input.focus();
    return;
  }
  input.removeAttribute("aria-invalid");
  void trySignIn({ kind: "email", email }, "signin-email-error", byId<HTMLButtonElement>("signin-submit"));
});

byId<HTMLFormElement>("signin-token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = byId<HTMLInputElement>("signin-token");
  const token = normalizePastedToken(input.value);
  if (!token) {
    setFormError("signin-token-error", "That does not look like a sign-in token. Paste the whole token (three parts separated by dots) or the sign-in link.");
    input.setAttribute("aria-invalid", "true");
    input.focus();
    return;
  }
  if (isExpired(token)) {
    setFormError("signin-token-error", "This token has expired. Ask for a new one.");
    return;
  }
  input.removeAttribute("aria-invalid");
  input.value = "";
  void trySignIn({ kind: "bearer", token }, "signin-token-error", byId<HTMLButtonElement>("token-submit"));
});

byId("boot-retry").addEventListener("click", () => void boot());
byId("signout-button").addEventListener("click", () => void signOut());

// A sign-in link opened while the page is already open (same tab, hash change only).
window.addEventListener("hashchange", () => {
  if (!location.hash.includes("token=")) return;
  if (phase === "app") teardown(); // the link may be for someone else
  phase = "boot";
  void boot();
});

// ---- chat ----

function onFrame(frame: ServerFrame): void {
  switch (frame.type) {
    case "hello":
      store.apply(frame);
      statusView.applyHello(frame);
      if (helloCount++ > 0) void statusView.refreshMe(); // a reconnect: the profile may have moved on
      chatView.hideNotice();
      if (socket.send({ type: "history", limit: 50 })) store.noteHistoryRequest("latest");
      break;
    case "history": {
      const kind = store.peekHistoryKind();
      store.apply(frame);
      if (kind === "latest") {
        chatView.markHistoryLoaded();
        // What the server never received goes out again, under the same id (no second reply).
        for (const m of store.unacknowledged()) {
          if (m.clientId) socket.send({ type: "chat", id: m.clientId, text: m.text, ...(m.imageIds?.length ? { images: m.imageIds } : {}) });
        }
      }
      break;
    }
    case "done":
      store.apply(frame);
      statusView.usageChangedSoon();
      break;
    case "error":
      store.apply(frame);
      if (!frame.id) chatView.showNotice(errorText(frame.code, frame.message));
      break;
    case "fly":
      statusView.applyFlyFrame(frame);
      break;
    case "workspace":
      if (frame.conflict) {
        // Nothing changed in the file itself: the agent's text became a version (see the file's history).
        toast(`Your companion edited ${frame.name} from an older copy. Your text stays; theirs is saved as version ${frame.version ?? "?"} in the file's history.`, "info", 10_000);
        break;
      }
      workspaceView.onWorkspaceFrame(frame);
      break;
    default:
      store.apply(frame);
  }
  chatView.scheduleRender();
}

function send(text: string, attached: { id: string; url: string; alt: string }[] = []): boolean {
  if (!socket.isConnected) return false;
  const id = newMessageId();
  store.addOutgoing(id, text, attached);
  const images = attached.map((a) => a.id);
  if (!socket.send({ type: "chat", id, text, ...(images.length ? { images } : {}) })) {
    store.removeOutgoing(id);
    chatView.scheduleRender();
    return false;
  }
  chatView.hideNotice();
  chatView.scheduleRender();
  return true;
}

function cancel(): void {
  for (const r of store.streaming()) {
    if (!r.clientId) continue;
    store.markCancelRequested(r.clientId);
    socket.send({ type: "cancel", id: r.clientId });
  }
  chatView.scheduleRender();
}

function loadEarlier(): void {
  if (!store.oldestId || store.loadingOlder) return;
  if (socket.send({ type: "history", before: store.oldestId, limit: 50 })) store.noteHistoryRequest("older");
}

// ---- layout: side panel tabs (desktop) and the bottom navigation (phone) ----

const appMain = byId("app-main");
const tabs = [byId<HTMLButtonElement>("tab-status"), byId<HTMLButtonElement>("tab-workspace")];

function selectPanel(name: "status" | "workspace", focusTab = false): void {
  for (const tab of tabs) {
    const on = tab.dataset.panel === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    byId(`panel-${tab.dataset.panel}`).hidden = !on;
    if (on && focusTab) tab.focus();
  }
}

function showView(view: View): void {
  appMain.dataset.view = view;
  if (view !== "chat") selectPanel(view);
  for (const b of document.querySelectorAll<HTMLButtonElement>(".mobile-nav [data-view]")) {
    if (b.dataset.view === view) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
}

for (const tab of tabs) {
  tab.addEventListener("click", () => showView(tab.dataset.panel as View));
  tab.addEventListener("keydown", (e) => {
    // Arrow keys move between tabs (WAI-ARIA tabs pattern).
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight" && e.key !== "Home" && e.key !== "End") return;
    e.preventDefault();
    const i = tabs.indexOf(tab);
    const next = e.key === "Home" ? 0 : e.key === "End" ? tabs.length - 1 : (i + (e.key === "ArrowRight" ? 1 : -1) + tabs.length) % tabs.length;
    const target = tabs[next]!;
    showView(target.dataset.panel as View);
    selectPanel(target.dataset.panel as "status" | "workspace", true);
  });
}
for (const b of document.querySelectorAll<HTMLButtonElement>(".mobile-nav [data-view]")) {
  b.addEventListener("click", () => showView(b.dataset.view as View));
}

void boot();
