/**
 * Tiny DOM helpers: element construction without innerHTML, lookups by id, toasts and a confirm
 * dialog. No style attributes are ever set from here (the page runs under a strict CSP).
 */

type Child = Node | string | number | null | undefined | false;
type AttrValue = string | number | boolean | null | undefined;
type Attrs = Record<string, AttrValue | ((ev: Event) => void)>;

/**
 * Creates an element. `class` sets the class name, `on<event>` functions become listeners,
 * `true` makes a boolean attribute, `false`/`null`/`undefined` leave it out. Strings in
 * `children` become text nodes, never HTML.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs | null = null,
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (typeof value === "function") el.addEventListener(key.slice(2).toLowerCase(), value);
      else if (value === true) el.setAttribute(key, "");
      else if (value === false || value === null || value === undefined) continue;
      else if (key === "class") el.className = String(value);
      else el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el: Element, children: (Child | Child[])[]): void {
  for (const c of children) {
    if (Array.isArray(c)) append(el, c);
    else if (c === null || c === undefined || c === false) continue;
    else el.append(typeof c === "number" ? String(c) : c);
  }
}

/** Replaces an element's children. */
export function setChildren(el: Element, ...children: (Child | Child[])[]): void {
  el.replaceChildren();
  append(el, children);
}

/** The element with this id; throws when the page skeleton lacks it (a build mistake). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el as T;
}

/** An inline SVG icon from a fixed path list (no user data reaches this). */
export function icon(name: keyof typeof ICONS, cls = "icon"): SVGSVGElement {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", cls);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const d of ICONS[name]) {
    const p = document.createElementNS("http://www.w3.org/2000/svg", "path");
    p.setAttribute("d", d);
    svg.append(p);
  }
  return svg;
}

const ICONS = {
  file: ["M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z", "M14 3v5h5", "M9 13h6M9 17h4"],
  plus: ["M12 5v14M5 12h14"],
  back: ["M15 18l-6-6 6-6"],
  history: ["M3 12a9 9 0 1 0 3-6.7L3 8", "M3 3v5h5", "M12 7v5l3 3"],
  trash: ["M4 7h16", "M10 11v6M14 11v6", "M6 7l1 13h10l1-13", "M9 7V4h6v3"],
  refresh: ["M20 11a8 8 0 0 0-14.9-3.5L3 10", "M3 4v6h6", "M4 13a8 8 0 0 0 14.9 3.5L21 14", "M21 20v-6h-6"],
  external: ["M14 4h6v6", "M20 4l-9 9", "M19 14v5a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V6a1 1 0 0 1 1-1h5"],
  close: ["M6 6l12 12M18 6L6 18"],
  check: ["M5 12.5l4.5 4.5L19 7"],
} as const;

// ---- toasts ----

export type ToastKind = "info" | "success" | "error";

/** Shows a short message in the polite live region at the corner of the page. */
export function toast(message: string, kind: ToastKind = "info", ms = kind === "error" ? 8000 : kind === "success" ? 3000 : 4500): void {
  const host = document.getElementById("toasts");
  if (!host) return;
  const close = h("button", { type: "button", class: "toast-close", "aria-label": "Dismiss" }, icon("close"));
  const el = h("div", { class: `toast toast--${kind}`, role: kind === "error" ? "alert" : "status" }, h("span", null, message), close);
  const remove = (): void => el.remove();
  close.addEventListener("click", remove);
  host.append(el);
  // Keep at most a few on screen.
  while (host.children.length > 3) host.firstElementChild?.remove();
  window.setTimeout(remove, ms);
}

// ---- confirm dialog ----

export interface ConfirmOptions {
  title: string;
  message: string;
  confirmLabel: string;
  danger?: boolean;
}

/** Asks for confirmation with the page's <dialog>; resolves true when confirmed. */
export function confirmDialog(opts: ConfirmOptions): Promise<boolean> {
  const dialog = byId<HTMLDialogElement>("confirm-dialog");
  byId("confirm-title").textContent = opts.title;
  byId("confirm-message").textContent = opts.message;
  const ok = byId<HTMLButtonElement>("confirm-ok");
  ok.textContent = opts.confirmLabel;
  ok.className = opts.danger ? "btn btn--danger" : "btn btn--primary";
  return new Promise((resolve) => {
    const onClose = (): void => {
      dialog.removeEventListener("close", onClose);
      resolve(dialog.returnValue === "ok");
    };
    dialog.returnValue = "";
    dialog.addEventListener("close", onClose);
    dialog.showModal();
    byId<HTMLButtonElement>("confirm-cancel").focus();
  });
}
