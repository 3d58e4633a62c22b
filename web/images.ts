/**
 * Generated images are owner-only (`GET /api/images/:id` needs the Authorization header), and an
 * <img> cannot send headers: so they are fetched with the header and shown from a blob: URL.
 *
 * A CSP of exactly `default-src 'self'` blocks blob: images (img-src falls back to 'self'); the
 * Worker should send `img-src 'self' blob:`. Until it does, an image that fails to load from its
 * blob: URL is drawn onto a <canvas> instead (createImageBitmap is not subject to img-src).
 */
import type { Api } from "./api.ts";
import { h } from "./dom.ts";
import type { ImageRef } from "./types.ts";

/** Set once a blob: image failed to load (the CSP blocks them): later images go straight to canvas. */
let blobImagesBlocked = false;

export class ImageLoader {
  private blobs = new Map<string, Promise<Blob>>();
  private objectUrls: string[] = [];

  constructor(private readonly api: Api) {}

  /** Only this origin's /api/images/ paths: the user's token is never sent anywhere else. */
  static isOwnImage(url: string): boolean {
    try {
      const u = new URL(url, location.origin);
      return u.origin === location.origin && u.pathname.startsWith("/api/images/");
    } catch {
      return false;
    }
  }

  /** A <figure> that shows the image once it has loaded (or says why it could not). */
  /** `caption`: false for images the person sent (their alt text is generic, not worth a line). */
  render(ref: ImageRef, options: { caption?: boolean } = {}): HTMLElement {
    const fig = h("figure", { class: "msg-image is-loading", "data-url": ref.url, "aria-busy": "true" });
    const caption = ref.alt && options.caption !== false ? h("figcaption", null, ref.alt) : null;
    if (!ImageLoader.isOwnImage(ref.url)) {
      fig.classList.remove("is-loading");
      fig.removeAttribute("aria-busy");
      fig.append(h("p", { class: "msg-image-error" }, "Image not shown: it is not from this site."));
      return fig;
    }
    void this.fill(fig, ref, caption);
    return fig;
  }

  private async fill(fig: HTMLElement, ref: ImageRef, caption: HTMLElement | null): Promise<void> {
    let blob: Blob;
    try {
      blob = await this.blob(ref.url);
    } catch {
      this.blobs.delete(ref.url);
      fig.classList.remove("is-loading");
      fig.removeAttribute("aria-busy");
      const retry = h("button", { type: "button", class: "btn btn--ghost btn--small" }, "Retry");
      retry.addEventListener("click", () => fig.replaceWith(this.render(ref, { caption: caption !== null })));
      fig.replaceChildren(h("p", { class: "msg-image-error" }, "The image could not be loaded. ", retry));
      return;
    }
    if (blobImagesBlocked) {
      await this.drawOnCanvas(fig, blob, ref, caption);
      return;
    }
    const url = URL.createObjectURL(blob);
    this.objectUrls.push(url);
    const img = h("img", { src: url, alt: ref.alt || "Generated image", decoding: "async" });
    const link = h("a", { href: url, target: "_blank", rel: "noopener", class: "msg-image-link", title: "Open full size" }, img);
    img.addEventListener("load", () => {
      fig.classList.remove("is-loading");
      fig.removeAttribute("aria-busy");
    });
    img.addEventListener(
      "error",
      () => {
        blobImagesBlocked = true;
        void this.drawOnCanvas(fig, blob, ref, caption);
      },
      { once: true },
    );
    fig.replaceChildren(link);
    if (caption) fig.append(caption);
  }

  private async drawOnCanvas(fig: HTMLElement, blob: Blob, ref: ImageRef, caption: HTMLElement | null): Promise<void> {
    try {
      const bitmap = await createImageBitmap(blob);
      const canvas = h("canvas", { role: "img", "aria-label": ref.alt || "Generated image", width: bitmap.width, height: bitmap.height });
      canvas.getContext("2d")?.drawImage(bitmap, 0, 0);
      bitmap.close();
      fig.replaceChildren(canvas);
      if (caption) fig.append(caption);
    } catch {
      fig.replaceChildren(h("p", { class: "msg-image-error" }, "The image could not be shown."));
    }
    fig.classList.remove("is-loading");
    fig.removeAttribute("aria-busy");
  }

  private blob(url: string): Promise<Blob> {
    let p = this.blobs.get(url);
    if (!p) {
      p = this.api.image(url);
      this.blobs.set(url, p);
    }
    return p;
  }

  /** Frees every blob: URL (sign-out). */
  clear(): void {
    for (const u of this.objectUrls) URL.revokeObjectURL(u);
    this.objectUrls = [];
    this.blobs.clear();
  }
}
