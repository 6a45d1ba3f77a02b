/**
 * What the image service says instead of drawing when it is overloaded (upstream-protocol.md, A4):
 * the stream then ends normally with this text and no image. Seen in the wild (WebAI2API#101,
 * chatgpt2api#29): "Processing image … Lots of people are creating images right now, so this might
 * take a bit. We'll notify you when your image is ready." and its Chinese form "目前有很多人在创建图片，
 * 因此可能需要一点时间。图片准备好后我们会通知你。"; relays add their own "busy, try again later" lines.
 * Each pattern names load or asks to come back later; none matches a refusal or a failure of the
 * prompt itself (content-policy text is checked first by the caller).
 */
export const BUSY_PATTERNS: readonly RegExp[] = [
  /lots of people are creating images/i,
  /(?:this|it) (?:might|may|could) take a (?:bit|while|little while)/i,
  /notify you when your images? (?:is|are) ready/i,
  /(?:experiencing|under) (?:unusually )?(?:high|heavy) (?:demand|load|traffic)/i,
  /(?:servers?|service|system|capacity) (?:is |are )?(?:currently )?(?:busy|overloaded|at capacity|full)/i,
  /(?:please )?try again (?:later|in a (?:few|little) (?:minutes?|moments?|while))/i,
  /很多人在(?:创建|生成)图片/,
  /使用人数(?:较多|过多|太多)|人数较多|排队人数过多/,
  /(?:服务器|系统|服务|当前)(?:繁忙|忙碌|负载(?:较高|过高|过大))/,
  /图片准备好后我们会通知你/,
  /请稍后(?:再试|重试)/,
];

/** True when the assistant text says the image service is busy (and so a later call may draw). */
export function isBusyText(text: string): boolean {
  return BUSY_PATTERNS.some((pattern) => pattern.test(text));
}
