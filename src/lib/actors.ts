/** The one way to reach a user's object (partyserver's getServerByName, agents' getAgentByName). */
export function userActor(env: Env, userId: string) {
  return env.USER_ACTOR.get(env.USER_ACTOR.idFromName(userId));
}
