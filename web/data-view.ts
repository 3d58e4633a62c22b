/**
 * "Your data" card: download everything stored about you (`GET /api/me/export`), or delete your
 * account (`DELETE /api/me`). Deleting asks for the email typed out, as the API does, and the
 * button stays disabled until it matches.
 */
import type { Api } from "./api.ts";
import { ApiError } from "./api.ts";
import { h, icon, toast } from "./dom.ts";

export interface DataViewOptions {
  /** The signed-in email, for the confirmation. */
  email(): string | undefined;
  /** After the deletion was accepted: sign out with this message. */
  onDeleted(message: string): void;
}

export class DataView {
  readonly element: HTMLElement;
  private readonly exportBtn = h("button", { type: "button", id: "data-export", class: "btn btn--ghost btn--small" }, "Download my data");
  private readonly confirmInput = h("input", { id: "data-delete-confirm", type: "email", autocomplete: "off", spellcheck: "false", "aria-describedby": "data-delete-hint" });
  private readonly deleteBtn = h("button", { type: "submit", id: "data-delete", class: "btn btn--danger btn--small", disabled: true }, icon("trash"), "Delete my account");
  private readonly hint = h("p", { id: "data-delete-hint", class: "field-hint" });

  constructor(private readonly api: Api, private readonly options: DataViewOptions) {
    const form = h("form", { id: "data-delete-form", class: "tg-form", novalidate: true },
      h("label", { for: "data-delete-confirm", class: "field-label" }, "Delete my account"),
      this.confirmInput,
      this.hint,
      h("div", { class: "row-end" }, this.deleteBtn),
    );
    this.element = h("section", { class: "card", id: "data-card", "aria-labelledby": "data-card-title" },
      h("div", { class: "card-head" }, h("h2", { id: "data-card-title" }, "Your data")),
      h("div", { class: "card-body" },
        h("p", { class: "field-hint" }, "One JSON file with your workspace and its versions, your conversation, usage, images and settings. Never a secret."),
        h("div", { class: "card-actions" }, this.exportBtn),
        form,
      ),
    );
    this.exportBtn.addEventListener("click", () => void this.download());
    this.confirmInput.addEventListener("input", () => this.renderConfirm());
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.remove();
    });
    this.renderConfirm();
  }

  reset(): void {
    this.confirmInput.value = "";
    this.renderConfirm();
  }

  private matches(): boolean {
    const email = this.options.email()?.trim().toLowerCase();
    return Boolean(email) && this.confirmInput.value.trim().toLowerCase() === email;
  }

  private renderConfirm(): void {
    const email = this.options.email();
    this.confirmInput.placeholder = email ?? "your email address";
    this.hint.textContent = `This deletes your container, your Telegram bot link, your images and everything stored about you. Type ${email ?? "your email address"} to confirm.`;
    this.deleteBtn.disabled = !this.matches();
  }

  private async download(): Promise<void> {
    this.exportBtn.disabled = true;
    try {
      const res = await this.api.request("/api/me/export");
      const blob = await res.blob();
      const name = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") ?? "")?.[1] ?? "soulprint-export.json";
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: name });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      toast("Your data is downloading.", "success");
    } catch (err) {
      toast(err instanceof ApiError ? err.message : "The export failed. Try again.", "error");
    } finally {
      this.exportBtn.disabled = false;
    }
  }

  private async remove(): Promise<void> {
    if (!this.matches()) return;
    this.deleteBtn.disabled = true;
    try {
      await this.api.request("/api/me", { method: "DELETE", json: { confirm: this.confirmInput.value.trim() } });
      this.options.onDeleted("Your account is being deleted. Signing in again starts a new, empty account.");
    } catch (err) {
      toast(err instanceof ApiError ? err.message : "The deletion failed. Try again.", "error");
      this.renderConfirm();
    }
  }
}
