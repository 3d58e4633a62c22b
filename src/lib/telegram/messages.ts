/** What the bot says on its own (not the companion's words): short, and plain text. */

export const CONNECTED =
  "Connected! This chat is now yours. Write to me here just like on the web: it is the same conversation.\n\n/new starts a fresh conversation, /help explains what I do.";

export const ALREADY_CONNECTED = "You're connected. Just write to me. /new starts a fresh conversation, /help explains what I do.";

export const PRIVATE =
  "This companion is private. If it is yours, open the link from your SoulPrint page to connect this chat.";

export const NEW_CONVERSATION = "Fresh start: I've set our earlier conversation aside (what I remember about you stays). What's on your mind?";

export const HELP = [
  "I'm your SoulPrint companion. Write to me here as you would on the web: it is one conversation, and I keep what matters in my memory.",
  "",
  "/new — start a fresh conversation (my memory of you stays)",
  "/help — this message",
].join("\n");

export const TEXT_ONLY = "I can read text and photos, but not this kind of message yet. Could you write it in a few words, or send it as a photo?";

export const PHOTO_TOO_LARGE = "That photo is too large for me to look at. Could you send a smaller one?";

export const PHOTO_UNREADABLE = "I couldn't read that as a picture. Send it as a photo (JPEG, PNG, WebP or GIF) and I'll take a look.";

export const REPLY_FAILED = "Sorry, I couldn't answer that just now. Please send it again in a moment.";

export const CUT_OFF_NOTE = "(This reply was cut off. Send your message again to continue.)";

export const RATE_LIMITED = "You're writing faster than I can keep up with. Give me a minute, then send your message again.";
