declare module "cloudflare:workers" {
  interface ProvidedEnv extends Env {}
}
