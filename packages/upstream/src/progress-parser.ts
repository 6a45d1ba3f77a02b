/** How far gpt-4o-image says it is, read from its markdown progress text. */
export type ProgressStageName = "waiting" | "queuing" | "generating" | "complete";

/** One reading of the accumulated assistant text. */
export interface ProgressSnapshot {
  stage: ProgressStageName;
  /** Highest progress number seen (0..100), 100 once complete; null before any number. */
  percent: number | null;
  /** Result images (markdown `![alt](url)`), in order, without duplicates. */
  imageUrls: string[];
  /** The `"n"` of the leading ```json block, when present. */
  declaredN: number | null;
  /** A completion marker was seen, or (marker-less forms) all expected images arrived. */
  complete: boolean;
}

const FENCED_BLOCK = /```[^\n]*\n[\s\S]*?(?:```|$)/g;
const JSON_BLOCK = /```json[^\n]*\n([\s\S]*?)```/i;
const COMPLETE_MARKER = /(?:✅\s*)?(?:Generation complete[d]?|生成完成)/i;
/** `>⚡ Generating`, `>⚡ 生成中`, and the newer `> 🎨 生成中...` (the emoji is optional). */
const GENERATING_MARKER = /(?:[⚡🎨]\s*)?(?:Generating|生成中|正在生成)/iu;
/** Queuing words, or the `> ID: \`<uuid>\`` line the newer form opens with once the task is accepted. */
const QUEUING_MARKER = /(?:🕐\s*)?(?:Queuing|Queueing|Queued|排队中)|^[ \t]*>[ \t]*(?:Task[ \t]*)?ID[ \t]*[:：]/im;
const PROGRESS_LINE = /^[ \t]*>?[ \t]*(?:🏃[ \t]*)?(?:Progress|进度)[ \t]*[:：]?(.*)$/gim;
/** What every {@link PROGRESS_LINE} holds: a text without it is not scanned line by line. */
const PROGRESS_WORD = /Progress|进度/i;
const LINE_BREAKS = /\r\n?/g;
const MARKDOWN_IMAGE = /!\[[^\]\n]*\]\(\s*<?(https?:\/\/[^\s)>]+)>?(?:\s+"[^"\n]*")?\s*\)/g;
/** Hosts that only ever serve signed source or preview links, never a result to keep. */
const NEVER_RESULT_HOSTS = /^https?:\/\/(?:[a-z0-9-]+\.)*(?:videos\.openai\.com|asyncdata\.net)(?:[:/]|$)/i;

/** `text` with its CRLF and CR line ends as LF (the text itself when it has none). */
const normalizeBreaks = (text: string): string => (text.includes("\r") ? text.replace(LINE_BREAKS, "\n") : text);

const isDigit = (code: number): boolean => code >= 48 && code <= 57;

/** The text of the first closed ```json block, if one has closed. */
const firstJsonBlock = (text: string): string | undefined => JSON_BLOCK.exec(text)?.[1];

function declaredCount(text: string): number | null {
  const block = firstJsonBlock(text);
  return block === undefined ? null : countIn(block);
}

/** The `"n"` inside a ```json block's text, when it is 1..10. */
function countIn(block: string): number | null {
  const match = /"n"\s*:\s*"?(\d+)"?\s*[,}\n]/.exec(block);
  if (match?.[1] === undefined) return null;
  const n = Number.parseInt(match[1], 10);
  return n >= 1 && n <= 10 ? n : null;
}

/**
 * Highest finished progress number. Only the part of a progress line before any link target
 * `(` counts, so the digits inside the `[100](https://videos.openai.com/…)` URL never do, and a
 * digit run at the very end of the text is skipped because more digits may still arrive
 * ("7....1" may become "7....13").
 */
function highestProgress(text: string): number | null {
  if (!PROGRESS_WORD.test(text)) return null;
  let best: number | null = null;
  PROGRESS_LINE.lastIndex = 0;
  for (let line = PROGRESS_LINE.exec(text); line !== null; line = PROGRESS_LINE.exec(text)) {
    const rest = line[1] ?? "";
    const cut = rest.indexOf("(");
    const segment = cut === -1 ? rest : rest.slice(0, cut);
    const atEnd = line.index + line[0].length === text.length && cut === -1;
    // Each run of ASCII digits (what /\d+/g finds), read in place.
    for (let start = 0; start < segment.length; ) {
      if (!isDigit(segment.charCodeAt(start))) {
        start += 1;
        continue;
      }
      let end = start + 1;
      while (end < segment.length && isDigit(segment.charCodeAt(end))) end += 1;
      if (!(atEnd && end === segment.length)) {
        const value = Number.parseInt(segment.slice(start, end), 10);
        if (value <= 100 && (best === null || value > best)) best = value;
      }
      start = end;
    }
  }
  // exec ended the loop by finding nothing, which set lastIndex back to 0.
  return best;
}

/**
 * Result images of `text`: markdown images, minus signed source and preview hosts. `/cdn/download/`
 * images are listed apart (`downloads`): they duplicate the result when both are shown, but some
 * newer streams show their result only that way.
 */
function imagesIn(text: string, downloads = false): string[] {
  const urls: string[] = [];
  if (!text.includes("![")) return urls;
  for (const match of text.matchAll(MARKDOWN_IMAGE)) {
    const url = match[1];
    if (url === undefined || NEVER_RESULT_HOSTS.test(url) || url.includes("/cdn/download/") !== downloads) continue;
    if (!urls.includes(url)) urls.push(url);
  }
  return urls;
}

/**
 * Reads the accumulated gpt-4o-image assistant text (upstream-protocol.md, A4): stage, progress,
 * result image URLs and the declared image count. Works on any prefix of the stream, in English
 * or Chinese, in the classic, `> ID:` (asyncdata) and `进度 **34%**` forms. Pure.
 *
 * @param text everything received so far in `delta.content`
 * @param requestedN images asked for; used only when the text declares no `n`, to decide that a
 *   marker-less form is complete
 */
export function parseProgress(text: string, requestedN?: number): ProgressSnapshot {
  const normalized = normalizeBreaks(text);
  const declaredN = declaredCount(normalized);
  // The JSON block echoes the user's prompt, which may contain any of the marker words.
  const { body } = bodyOf(normalized);
  const marker = COMPLETE_MARKER.exec(body);
  const allImages = imagesIn(body);
  const afterMarker = marker === null ? [] : imagesIn(body.slice(marker.index));
  const shown = afterMarker.length > 0 ? afterMarker : allImages;
  const imageUrls = shown.length > 0 ? shown : imagesIn(body, true);
  const expected = declaredN ?? requestedN ?? 1;
  const complete = marker !== null || imageUrls.length >= expected;
  const progress = highestProgress(body);
  const percent = complete ? 100 : progress;
  let stage: ProgressStageName = "waiting";
  if (complete) stage = "complete";
  else if (progress !== null || GENERATING_MARKER.test(body)) stage = "generating";
  else if (QUEUING_MARKER.test(body)) stage = "queuing";
  return { stage, percent, imageUrls, declaredN, complete };
}

/** True when two snapshots differ in anything a listener would see. */
export function snapshotChanged(previous: ProgressSnapshot | null, next: ProgressSnapshot): boolean {
  return (
    previous === null ||
    previous.stage !== next.stage ||
    previous.percent !== next.percent ||
    previous.declaredN !== next.declaredN ||
    previous.complete !== next.complete ||
    previous.imageUrls.join("\n") !== next.imageUrls.join("\n")
  );
}

/** What a settled stretch of text (whole lines, no open fence) contributes to a snapshot. */
interface Settled {
  /** Length of the raw text settled so far. */
  length: number;
  /** A completion marker was seen in it. */
  marker: boolean;
  imageUrls: string[];
  /** Images after the first completion marker. */
  afterMarker: string[];
  /** `/cdn/download/` images, used only when no other image is shown. */
  downloadUrls: string[];
  progress: number | null;
  generating: boolean;
  queuing: boolean;
}

function mergeUrls(into: string[], more: string[]): string[] {
  for (const url of more) if (!into.includes(url)) into.push(url);
  return into;
}

/** True when a markdown image opened in `body` may still be completed by later text. */
function imagePending(body: string): boolean {
  const open = body.lastIndexOf("![");
  if (open === -1) return false;
  MARKDOWN_IMAGE.lastIndex = 0;
  const rest = body.slice(open);
  const match = MARKDOWN_IMAGE.exec(rest);
  MARKDOWN_IMAGE.lastIndex = 0;
  if (match !== null && match.index === 0) return false;
  // `![alt](` on one line: the link may follow on the next ones, up to its `)`.
  const opened = /^!\[[^\]\n]*\]\(/.exec(rest);
  return opened !== null && !rest.slice(opened[0].length).includes(")");
}

/** The body of `normalized` (fenced blocks blanked) and whether a fence is still open at its end. */
function bodyOf(normalized: string): { body: string; openFence: boolean } {
  if (!normalized.includes("```")) return { body: normalized, openFence: false };
  let openFence = false;
  const body = normalized.replace(FENCED_BLOCK, (block: string) => {
    if (!block.endsWith("```") || block.length < 7) openFence = true;
    return "\n".repeat(block.split("\n").length - 1);
  });
  return { body, openFence };
}

/**
 * {@link parseProgress} over a growing text without re-reading all of it on every delta: whole
 * lines outside fenced blocks (and past any unfinished image link) are read once and summarised,
 * only the rest is read again. `push(delta)` returns exactly what `parseProgress(text)` returns for
 * the text so far.
 */
export class IncrementalProgressParser {
  private raw = "";
  private declaredN: number | null = null;
  /** The first ```json block has closed: {@link declaredN} is final. */
  private declaredFinal = false;
  private settled: Settled = {
    length: 0,
    marker: false,
    imageUrls: [],
    afterMarker: [],
    downloadUrls: [],
    progress: null,
    generating: false,
    queuing: false,
  };

  constructor(private readonly requestedN?: number) {}

  get text(): string {
    return this.raw;
  }

  /** Characters read again on the next delta (the rest were summarised once). */
  get unsettledLength(): number {
    return this.raw.length - this.settled.length;
  }

  push(delta: string): ProgressSnapshot {
    const before = this.raw.length;
    this.raw += delta;
    // The first closed ```json block decides the declared count for good (text is only appended,
    // so no earlier block can close later). Until one closes, the text is read again only when a
    // fence ends in the new text: a block cannot close without one. Without this, a stream whose
    // block has no "n" was read whole at every delta to the end.
    if (!this.declaredFinal && this.raw.includes("```", Math.max(0, before - 2))) {
      const block = firstJsonBlock(normalizeBreaks(this.raw));
      if (block !== undefined) {
        this.declaredFinal = true;
        this.declaredN = countIn(block);
      }
    }
    this.settle();
    const tail = bodyOf(normalizeBreaks(this.raw.slice(this.settled.length))).body;
    const s = this.settled;
    let afterMarker: string[];
    let marker = s.marker;
    if (s.marker) {
      afterMarker = mergeUrls([...s.afterMarker], imagesIn(tail));
    } else {
      const found = COMPLETE_MARKER.exec(tail);
      marker = found !== null;
      afterMarker = found === null ? [] : imagesIn(tail.slice(found.index));
    }
    const allImages = mergeUrls([...s.imageUrls], imagesIn(tail));
    const shown = afterMarker.length > 0 ? afterMarker : allImages;
    const imageUrls = shown.length > 0 ? shown : mergeUrls([...s.downloadUrls], imagesIn(tail, true));
    const expected = this.declaredN ?? this.requestedN ?? 1;
    const complete = marker || imageUrls.length >= expected;
    const tailProgress = highestProgress(tail);
    const progress =
      s.progress === null ? tailProgress : tailProgress === null ? s.progress : Math.max(s.progress, tailProgress);
    let stage: ProgressStageName = "waiting";
    if (complete) stage = "complete";
    else if (progress !== null || s.generating || GENERATING_MARKER.test(tail)) stage = "generating";
    else if (s.queuing || QUEUING_MARKER.test(tail)) stage = "queuing";
    return { stage, percent: complete ? 100 : progress, imageUrls, declaredN: this.declaredN, complete };
  }

  /** Moves the whole lines of the unsettled text into the summary when nothing can span past them. */
  private settle(): void {
    const end = this.raw.lastIndexOf("\n") + 1;
    if (end <= this.settled.length) return;
    const { body, openFence } = bodyOf(normalizeBreaks(this.raw.slice(this.settled.length, end)));
    if (openFence || imagePending(body)) return;
    const s = this.settled;
    s.length = end;
    if (s.marker) {
      mergeUrls(s.afterMarker, imagesIn(body));
    } else {
      const found = COMPLETE_MARKER.exec(body);
      if (found !== null) {
        s.marker = true;
        s.afterMarker = imagesIn(body.slice(found.index));
      }
    }
    mergeUrls(s.imageUrls, imagesIn(body));
    mergeUrls(s.downloadUrls, imagesIn(body, true));
    const progress = highestProgress(body);
    if (progress !== null) s.progress = s.progress === null ? progress : Math.max(s.progress, progress);
    s.generating ||= GENERATING_MARKER.test(body);
    s.queuing ||= QUEUING_MARKER.test(body);
  }
}
