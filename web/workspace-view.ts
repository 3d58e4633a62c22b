/**
 * The workspace panel: the files that make the companion who it is. A list, and an editor with
 * optimistic concurrency: a file is saved with `If-Match: <the ETag it was opened with>`, so an
 * edit made meanwhile (another tab, the container writing MEMORY.md) is never silently lost; a 412
 * offers to reload theirs or overwrite with mine. Earlier versions can be viewed and restored.
 */
import { ApiError, etagToSha, type Api } from "./api.ts";
import { byId, confirmDialog, h, icon, setChildren, toast } from "./dom.ts";
import { formatBytes, formatRelative, utf8Length } from "./format.ts";
import type { FileVersion, WorkspaceFile, WorkspaceFrame } from "./types.ts";

/** API.md: workspace file names. */
export const FILE_NAME_RE = /^[A-Z][A-Z0-9_]{0,31}\.md$/;
export const FILE_NAME_RULE =
  "A capital letter, then up to 31 capitals, digits or underscores, then .md — for example NOTES.md or DAILY_LOG.md.";
const MAX_FILE_BYTES = 64 * 1024;
const MAX_TOTAL_BYTES = 512 * 1024;
const MAX_FILES = 32;

interface OpenFile {
  name: string;
  /** ETag as sent by the server, for If-Match; null for a file not saved yet. */
  etag: string | null;
  /** The text as last loaded or saved (to know whether there are unsaved changes). */
  saved: string;
  isNew: boolean;
}

export class WorkspaceView {
  private readonly root = byId("panel-workspace");
  private files: WorkspaceFile[] = [];
  private loaded = false;
  private loadError: string | null = null;
  private open: OpenFile | null = null;
  private refreshTimer: number | undefined;
  private busy = false;

  // List view
  private readonly listView = h("div", { class: "ws-list-view" });
  private readonly fileList = h("ul", { id: "workspace-files", class: "file-list", "aria-label": "Workspace files", "data-testid": "workspace-files" });
  private readonly listFoot = h("p", { class: "panel-foot" });
  private readonly newForm = h("form", { id: "new-file-form", class: "new-file", hidden: true, novalidate: true });
  private readonly newName = h("input", {
    id: "new-file-name",
    name: "name",
    type: "text",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "NOTES.md",
    maxlength: 35,
    "aria-describedby": "new-file-rule new-file-error",
  });
  private readonly newError = h("p", { id: "new-file-error", class: "field-error", role: "alert" });
  private readonly newBtn = h("button", { type: "button", id: "new-file-button", class: "btn btn--ghost btn--small", "aria-expanded": "false", "aria-controls": "new-file-form" }, icon("plus"), "New file");

  // Editor view
  private readonly editorView = h("div", { class: "ws-editor-view", hidden: true });
  private readonly title = h("h2", { id: "editor-title", class: "editor-title" });
  private readonly meta = h("p", { id: "editor-meta", class: "editor-meta" });
  private readonly dirtyBadge = h("span", { id: "editor-dirty", class: "badge badge--warn", hidden: true }, "Unsaved");
  private readonly banner = h("div", { id: "editor-banner", class: "banner", hidden: true });
  private readonly textLabel = h("label", { for: "editor-text", class: "sr-only" }, "File contents");
  private readonly textarea = h("textarea", { id: "editor-text", class: "editor-text", spellcheck: "true", "data-testid": "editor-text" });
  private readonly bytes = h("span", { id: "editor-bytes", class: "editor-bytes" });
  private readonly saveBtn = h("button", { type: "button", id: "editor-save", class: "btn btn--primary", "data-testid": "editor-save" }, "Save");
  private readonly versionsBtn = h("button", { type: "button", id: "editor-versions-toggle", class: "btn btn--ghost", "aria-expanded": "false", "aria-controls": "editor-versions" }, icon("history"), "History");
  private readonly deleteBtn = h("button", { type: "button", id: "editor-delete", class: "btn btn--ghost btn--danger-text" }, icon("trash"), "Delete");
  private readonly versionsPanel = h("section", { id: "editor-versions", class: "versions", hidden: true, "aria-label": "Earlier versions" });

  constructor(private readonly api: Api) {
    this.buildList();
    this.buildEditor();
    this.root.append(this.listView, this.editorView);
    window.addEventListener("beforeunload", (e) => {
      if (this.isDirty()) e.preventDefault();
    });
  }

  /** Loads (or reloads) the file list. */
  async load(): Promise<void> {
    try {
      this.files = (await this.api.listFiles()).sort((a, b) => a.name.localeCompare(b.name));
      this.loadError = null;
    } catch (err) {
      this.loadError = err instanceof ApiError ? err.message : "The workspace could not be loaded.";
    }
    this.loaded = true;
    this.renderList();
  }

  /** A `workspace` frame: a file changed in another tab or in the container. */
  onWorkspaceFrame(f: WorkspaceFrame): void {
    window.clearTimeout(this.refreshTimer);
    this.refreshTimer = window.setTimeout(() => void this.load(), 250);
    const o = this.open;
    if (!o || o.name !== f.name) return;
    const sha = f.sha256 ?? null;
    if (sha && sha === etagToSha(o.etag)) return; // our own save coming back
    if (!sha) {
      this.showBanner("warn", `${o.name} was deleted elsewhere. Saving will create it again.`, []);
      o.etag = null;
      o.isNew = true;
      return;
    }
    if (!this.isDirty()) {
      void this.reloadOpen(`${o.name} was changed elsewhere and has been reloaded.`);
    } else {
      this.showBanner("warn", `${o.name} was changed elsewhere${f.version ? ` (now version ${f.version})` : ""}. Your unsaved edits are based on an older version.`, [
        ["Reload theirs", () => void this.reloadOpen()],
        ["Keep editing", () => this.hideBanner()],
      ]);
    }
  }

  isDirty(): boolean {
    return this.open !== null && this.textarea.value !== this.open.saved;
  }

  reset(): void {
    this.files = [];
    this.loaded = false;
    this.open = null;
    this.textarea.value = "";
    this.showList();
    this.renderList();
  }

  // ---- list ----

  private buildList(): void {
    const head = h("div", { class: "panel-head" }, h("h2", null, "Workspace"), this.newBtn);
    const intro = h("p", { class: "panel-intro" }, "These files make your companion who it is. Edits apply from the next message.");
    const rule = h("p", { id: "new-file-rule", class: "field-hint" }, FILE_NAME_RULE);
    const create = h("button", { type: "submit", class: "btn btn--primary btn--small" }, "Create");
    const cancel = h("button", { type: "button", class: "btn btn--ghost btn--small" }, "Cancel");
    this.newForm.append(
      h("label", { for: "new-file-name", class: "field-label" }, "New file name"),
      this.newName,
      rule,
      this.newError,
      h("div", { class: "row-end" }, cancel, create),
    );
    this.listView.append(head, intro, this.newForm, this.fileList, this.listFoot);

    this.newBtn.addEventListener("click", () => this.toggleNewForm(this.newForm.hidden !== false));
    cancel.addEventListener("click", () => this.toggleNewForm(false));
    this.newName.addEventListener("input", () => {
      // Names are upper case: convert as the user types, keeping the caret where it was.
      const { selectionStart, selectionEnd } = this.newName;
      this.newName.value = this.newName.value.toUpperCase().replace(/\.MD$/, ".md");
      this.newName.setSelectionRange(selectionStart, selectionEnd);
      this.newError.textContent = "";
      this.newName.removeAttribute("aria-invalid");
    });
    this.newForm.addEventListener("submit", (e) => {
      e.preventDefault();
      this.createFile();
    });
    this.newName.addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.toggleNewForm(false);
    });
  }

  private toggleNewForm(show: boolean): void {
    this.newForm.hidden = !show;
    this.newBtn.setAttribute("aria-expanded", String(show));
    this.newError.textContent = "";
    if (show) {
      this.newName.value = "";
      this.newName.focus();
    } else {
      this.newBtn.focus();
    }
  }

  private createFile(): void {
    let name = this.newName.value.trim();
    if (name && !name.includes(".")) name += ".md";
    const fail = (msg: string): void => {
      this.newError.textContent = msg;
      this.newName.setAttribute("aria-invalid", "true");
      this.newName.focus();
    };
    if (!FILE_NAME_RE.test(name)) return fail(name ? `“${name}” is not a valid name: see the rule above.` : "Enter a name for the file.");
    if (this.files.some((f) => f.name === name)) return fail(`${name} already exists. Open it from the list.`);
    if (this.files.length >= MAX_FILES) return fail(`A workspace holds at most ${MAX_FILES} files.`);
    this.toggleNewForm(false);
    void this.openFile(name, true);
  }

  private renderList(): void {
    if (!this.loaded) {
      setChildren(this.fileList, h("li", { class: "file-skeleton" }), h("li", { class: "file-skeleton" }), h("li", { class: "file-skeleton" }));
      this.listFoot.textContent = "";
      return;
    }
    if (this.loadError) {
      const retry = h("button", { type: "button", class: "btn btn--ghost btn--small" }, icon("refresh"), "Retry");
      retry.addEventListener("click", () => void this.load());
      setChildren(this.fileList, h("li", { class: "empty-note" }, h("p", null, `Unavailable: ${this.loadError}`), retry));
      this.listFoot.textContent = "";
      return;
    }
    if (this.files.length === 0) {
      setChildren(this.fileList, h("li", { class: "empty-note" }, "No files yet. Create SOUL.md to give your companion a personality."));
    } else {
      setChildren(
        this.fileList,
        this.files.map((f) => {
          const btn = h(
            "button",
            {
              type: "button",
              class: "file-item",
              "data-file": f.name,
              "data-testid": "workspace-file",
              "aria-current": this.open?.name === f.name ? "true" : null,
            },
            icon("file", "icon file-icon"),
            h("span", { class: "file-name" }, f.name),
            h("span", { class: "file-meta" }, fileMeta(f)),
          );
          btn.addEventListener("click", () => void this.openFile(f.name));
          return h("li", null, btn);
        }),
      );
    }
    const total = this.files.reduce((n, f) => n + (f.size ?? 0), 0);
    this.listFoot.textContent = `${this.files.length} of ${MAX_FILES} files · ${formatBytes(total)} of ${formatBytes(MAX_TOTAL_BYTES)}`;
  }

  // ---- editor ----

  private buildEditor(): void {
    const back = h("button", { type: "button", id: "editor-back", class: "icon-btn", "aria-label": "Back to all files" }, icon("back"));
    const head = h("div", { class: "editor-head" }, back, h("div", { class: "editor-heading" }, this.title, this.meta), this.dirtyBadge);
    const foot = h(
      "div",
      { class: "editor-foot" },
      this.bytes,
      h("div", { class: "editor-actions" }, this.versionsBtn, this.deleteBtn, this.saveBtn),
    );
    this.editorView.append(head, this.banner, this.textLabel, this.textarea, this.versionsPanel, foot);

    back.addEventListener("click", () => void this.closeEditor());
    this.textarea.addEventListener("input", () => this.updateEditorState());
    this.textarea.addEventListener("keydown", (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "s") {
        e.preventDefault();
        void this.save();
      }
    });
    this.saveBtn.addEventListener("click", () => void this.save());
    this.deleteBtn.addEventListener("click", () => void this.deleteOpen());
    this.versionsBtn.addEventListener("click", () => void this.toggleVersions());
  }

  private async openFile(name: string, isNew = false): Promise<void> {
    if (this.open?.name !== name && this.isDirty()) {
      const discard = await confirmDialog({
        title: "Discard unsaved changes?",
        message: `Your changes to ${this.open?.name} have not been saved.`,
        confirmLabel: "Discard changes",
        danger: true,
      });
      if (!discard) return;
    }
    let text = "";
    let etag: string | null = null;
    if (!isNew) {
      try {
        ({ text, etag } = await this.api.getFile(name));
      } catch (err) {
        toast(err instanceof ApiError ? err.message : `${name} could not be opened.`, "error");
        return;
      }
    }
    this.open = { name, etag, saved: text, isNew };
    this.textarea.value = text;
    this.title.textContent = name;
    this.textLabel.textContent = `Contents of ${name}`;
    this.hideBanner();
    this.closeVersions();
    this.showEditor();
    this.updateEditorState();
    this.renderList();
    this.textarea.scrollTop = 0;
    // With a mouse or keyboard, start typing at once; on touch screens don't pop up the keyboard.
    if (matchMedia("(pointer: fine)").matches) {
      this.textarea.focus();
      this.textarea.setSelectionRange(0, 0);
    } else {
      this.title.setAttribute("tabindex", "-1");
      this.title.focus();
    }
  }

  private async reloadOpen(note?: string): Promise<void> {
    const o = this.open;
    if (!o) return;
    try {
      const { text, etag } = await this.api.getFile(o.name);
      o.etag = etag;
      o.saved = text;
      o.isNew = false;
      this.textarea.value = text;
      this.hideBanner();
      this.updateEditorState();
      if (note) toast(note, "info");
    } catch (err) {
      toast(err instanceof ApiError ? err.message : `${o.name} could not be reloaded.`, "error");
    }
  }

  private updateEditorState(): void {
    const o = this.open;
    if (!o) return;
    const size = utf8Length(this.textarea.value);
    const dirty = this.isDirty() || o.isNew;
    this.dirtyBadge.hidden = !this.isDirty();
    this.bytes.textContent = `${formatBytes(size)} of ${formatBytes(MAX_FILE_BYTES)}`;
    this.bytes.classList.toggle("is-over", size > MAX_FILE_BYTES);
    this.saveBtn.disabled = this.busy || !dirty || size > MAX_FILE_BYTES;
    this.deleteBtn.hidden = o.isNew;
    this.versionsBtn.hidden = o.isNew;
    const f = this.files.find((x) => x.name === o.name);
    this.meta.textContent = o.isNew
      ? "New file: not saved yet"
      : f
        ? `Version ${f.version ?? "?"} · saved ${formatRelative(f.updatedAt)}`
        : "";
    if (size > MAX_FILE_BYTES) this.bytes.textContent += " (too large to save)";
  }

  private async save(overwrite = false): Promise<void> {
    const o = this.open;
    if (!o || this.busy) return;
    const text = this.textarea.value;
    if (utf8Length(text) > MAX_FILE_BYTES) {
      toast(`${o.name} is larger than 64 KB; shorten it to save.`, "error");
      return;
    }
    this.busy = true;
    this.saveBtn.textContent = "Saving…";
    this.updateEditorState();
    try {
      const res = await this.api.putFile(o.name, text, overwrite ? {} : o.isNew ? { create: true } : { ifMatch: o.etag });
      o.saved = text;
      o.isNew = false;
      o.etag = res.etag ?? (await this.api.getFile(o.name)).etag;
      this.hideBanner();
      toast(`Saved ${o.name}${res.version ? ` (version ${res.version})` : ""}.`, "success");
      void this.load().then(() => this.updateEditorState());
    } catch (err) {
      if (err instanceof ApiError && err.status === 412) this.showConflict();
      else toast(err instanceof ApiError ? err.message : `${o.name} could not be saved.`, "error");
    } finally {
      this.busy = false;
      this.saveBtn.textContent = "Save";
      this.updateEditorState();
    }
  }

  private showConflict(): void {
    const o = this.open;
    if (!o) return;
    this.showBanner(
      "error",
      o.isNew
        ? `${o.name} was created elsewhere in the meantime.`
        : `${o.name} was changed elsewhere since you opened it (another tab, or your companion). Saving now would overwrite that change.`,
      [
        ["Reload theirs (discard mine)", () => void this.reloadOpen()],
        ["Overwrite with mine", () => void this.confirmOverwrite()],
      ],
    );
  }

  private async confirmOverwrite(): Promise<void> {
    const ok = await confirmDialog({
      title: `Overwrite ${this.open?.name}?`,
      message: "The other change will be replaced by your version. It stays available under History.",
      confirmLabel: "Overwrite",
      danger: true,
    });
    if (ok) await this.save(true);
  }

  private async deleteOpen(): Promise<void> {
    const o = this.open;
    if (!o) return;
    const ok = await confirmDialog({
      title: `Delete ${o.name}?`,
      message: "Your companion will no longer see this file.",
      confirmLabel: "Delete file",
      danger: true,
    });
    if (!ok) return;
    try {
      await this.api.deleteFile(o.name);
      toast(`Deleted ${o.name}.`, "success");
      this.open = null;
      this.showList();
      await this.load();
    } catch (err) {
      toast(err instanceof ApiError ? err.message : `${o.name} could not be deleted.`, "error");
    }
  }

  private async closeEditor(): Promise<void> {
    if (this.isDirty()) {
      const discard = await confirmDialog({
        title: "Discard unsaved changes?",
        message: `Your changes to ${this.open?.name} have not been saved.`,
        confirmLabel: "Discard changes",
        danger: true,
      });
      if (!discard) return;
    }
    const name = this.open?.name;
    this.open = null;
    this.showList();
    this.renderList();
    if (name) this.fileList.querySelector<HTMLButtonElement>(`[data-file="${CSS.escape(name)}"]`)?.focus();
  }

  private showEditor(): void {
    this.listView.hidden = true;
    this.editorView.hidden = false;
  }

  private showList(): void {
    this.editorView.hidden = true;
    this.listView.hidden = false;
    this.closeVersions();
  }

  private showBanner(kind: "warn" | "error", message: string, actions: [string, () => void][]): void {
    this.banner.className = `banner banner--${kind}`;
    this.banner.setAttribute("role", kind === "error" ? "alert" : "status");
    setChildren(
      this.banner,
      h("p", null, message),
      actions.length
        ? h(
            "div",
            { class: "banner-actions" },
            actions.map(([label, fn]) => {
              const b = h("button", { type: "button", class: "btn btn--small btn--ghost" }, label);
              b.addEventListener("click", fn);
              return b;
            }),
          )
        : null,
    );
    this.banner.hidden = false;
  }

  private hideBanner(): void {
    this.banner.hidden = true;
  }

  // ---- versions ----

  private closeVersions(): void {
    this.versionsPanel.hidden = true;
    this.textarea.hidden = false;
    this.versionsBtn.setAttribute("aria-expanded", "false");
  }

  private async toggleVersions(): Promise<void> {
    const o = this.open;
    if (!o) return;
    if (!this.versionsPanel.hidden) {
      this.closeVersions();
      this.textarea.focus();
      return;
    }
    this.versionsBtn.setAttribute("aria-expanded", "true");
    this.versionsPanel.hidden = false;
    this.textarea.hidden = true;
    setChildren(this.versionsPanel, h("p", { class: "muted" }, "Loading versions…"));
    let versions: FileVersion[];
    try {
      versions = await this.api.listVersions(o.name);
    } catch (err) {
      setChildren(this.versionsPanel, h("p", { class: "muted" }, `Versions unavailable: ${err instanceof ApiError ? err.message : "could not load them."}`));
      return;
    }
    this.renderVersions(o, versions);
  }

  private renderVersions(o: OpenFile, versions: FileVersion[]): void {
    const title = h("h3", { class: "versions-title" }, "Earlier versions");
    if (versions.length === 0) {
      setChildren(this.versionsPanel, title, h("p", { class: "muted" }, "No earlier versions yet. Each save keeps the previous one here."));
      return;
    }
    // The Worker lists the current version too: it is labelled, and viewing it offers no restore.
    const current = this.files.find((f) => f.name === o.name)?.version;
    const list = h(
      "ul",
      { class: "version-list" },
      versions.map((v) => {
        const view = h("button", { type: "button", class: "btn btn--ghost btn--small", "aria-label": `View version ${v.version}` }, "View");
        view.addEventListener("click", () => void this.viewVersion(o, v, versions));
        return h(
          "li",
          { class: "version-item" },
          h("span", { class: "version-name" }, `Version ${v.version}`, v.version === current ? h("span", { class: "badge badge--accent version-current" }, "current") : null),
          h("span", { class: "version-meta" }, versionMeta(v)),
          view,
        );
      }),
    );
    setChildren(this.versionsPanel, title, list);
    list.querySelector("button")?.focus();
  }

  private async viewVersion(o: OpenFile, v: FileVersion, all: FileVersion[]): Promise<void> {
    let text: string;
    try {
      text = await this.api.getVersionText(o.name, v);
    } catch (err) {
      toast(err instanceof ApiError ? err.message : "That version could not be loaded.", "error");
      return;
    }
    const back = h("button", { type: "button", class: "btn btn--ghost btn--small" }, icon("back"), "All versions");
    const isCurrent = v.version === this.files.find((f) => f.name === o.name)?.version;
    const restore = h("button", { type: "button", class: "btn btn--primary btn--small", hidden: v.deleted === true || isCurrent }, "Restore this version");
    back.addEventListener("click", () => this.renderVersions(o, all));
    restore.addEventListener("click", () => void this.restore(o, v, text));
    setChildren(
      this.versionsPanel,
      h("div", { class: "version-head" }, back, h("h3", { class: "versions-title" }, `Version ${v.version}`), restore),
      h("pre", { class: "version-preview", tabindex: "0", "aria-label": `Contents of version ${v.version}` }, v.deleted ? "(the file was deleted in this version)" : text || "(empty)"),
    );
    (restore.hidden ? back : restore).focus();
  }

  /** Restoring = saving the old text as a new version (API.md: each version restorable by PUT). */
  private async restore(o: OpenFile, v: FileVersion, text: string): Promise<void> {
    if (this.isDirty()) {
      const ok = await confirmDialog({
        title: `Restore version ${v.version}?`,
        message: "Your unsaved edits will be replaced by this version.",
        confirmLabel: "Restore",
        danger: true,
      });
      if (!ok) return;
    }
    this.textarea.value = text;
    this.closeVersions();
    this.updateEditorState();
    await this.save();
  }
}

const SOURCE_LABELS: Record<string, string> = {
  user: "by you",
  tool: "by your companion",
  container: "by your container",
  restore: "restored",
  starter: "starter text",
};

function versionMeta(v: FileVersion): string {
  const parts = [v.deleted ? "deleted" : formatBytes(v.size), formatRelative(v.updatedAt)];
  if (v.source && SOURCE_LABELS[v.source]) parts.push(SOURCE_LABELS[v.source]!);
  return parts.join(" · ");
}

function fileMeta(f: WorkspaceFile): string {
  const parts = [formatBytes(f.size)];
  if (f.version !== undefined) parts.push(`v${f.version}`);
  if (f.updatedAt !== undefined) parts.push(formatRelative(f.updatedAt));
  return parts.join(" · ");
}
