export {};

declare module "cloudflare:workers" {
  interface ProvidedEnv extends Env {}
}

declare module "vitest" {
  export interface ProvidedContext {
    bedrockUrl: string;
    telegramUrl: string;
    flyUrl: string;
    flyAppUrlTemplate: string;
  }
}
