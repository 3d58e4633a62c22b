/**
 * Secrets for tests only: fixed, obviously fake values. Their own module so workerd tests can compare
 * what leaves the Worker (a Fly app's secrets) against every one of them; vitest.config.ts binds them.
 */
export const TEST_SECRETS = {
  AUTH_SECRET: "test-auth-secret-0123456789abcdef0123456789abcdef",
  USER_ID_SALT: "test-user-id-salt-0123456789abcdef",
  ADMIN_TOKEN: "test-admin-token-0123456789abcdef",
  ENCRYPTION_KEY: "test-encryption-key-0123456789abcdef",
  AWS_ACCESS_KEY_ID: "AKIDTESTSTANDIN",
  AWS_SECRET_ACCESS_KEY: "test-secret-access-key",
  AWS_BEARER_TOKEN_BEDROCK: "",
  FLY_API_TOKEN: "test-fly-token",
};
