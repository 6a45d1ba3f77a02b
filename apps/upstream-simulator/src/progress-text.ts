import { createHash } from "node:crypto";

/** Marker language and layout of the gpt-4o-image progress text (upstream-protocol.md, A4). */
export interface ContentOptions {
  lang: "en" | "zh";
  form: "classic" | "asyncdata" | "percent" | "newer";
  n: number;
  ratio: string;
  /** The prompt the JSON block echoes. */
  prompt: string;
  seed: string;
  images: Array<{ alt: string; url: string; downloadUrl: string }>;
  /** The `[100](…)` link on the progress line; must not be taken as a result. */
  decoyUrl: string;
  previewUrl: string;
}

/**
 * The assistant text as steps: each step is a list of `delta.content` pieces sent back to back,
 * followed by one step delay. `progressEnd` is the first step after the last progress number;
 * mid-stream faults cut the stream before it.
 */
export interface ContentPlan {
  steps: string[][];
  progressEnd: number;
}

const WORDS = {
  en: {
    queuing: ">🕐 Queuing",
    generating: ">⚡ Generating",
    progress: ">🏃 Progress ",
    complete: "> ✅ Generation complete",
    download: "Click to download",
    preview: "Online preview",
    failed: "> ❌ Generation failed: this request was rejected because it may violate our content policy.",
    percentQueuing: "> Queuing",
    percentProgress: "> Progress",
    newerGenerating: "> 🎨 Generating",
  },
  zh: {
    queuing: ">🕐 排队中",
    generating: ">⚡ 生成中",
    progress: ">🏃 进度 ",
    complete: "> ✅ 生成完成",
    download: "点击下载",
    preview: "在线预览",
    failed: "> ❌ 生成失败：该请求可能违反了我们的内容政策。",
    percentQueuing: "> 排队中",
    percentProgress: "> 进度",
    newerGenerating: "> 🎨 生成中",
  },
} as const;

/** Deterministic rising progress numbers below 100; at least seven of them. */
export function progressNumbers(seed: string): number[] {
  const digest = createHash("sha256").update(`progress:${seed}`).digest();
  const numbers: number[] = [];
  let value = 3 + ((digest[0] ?? 0) % 7);
  for (let i = 1; value < 96 && i < digest.length; i += 1) {
    numbers.push(value);
    value += 2 + ((digest[i] ?? 0) % 12);
  }
  return numbers;
}

function dots(count: number): string[][] {
  return Array.from({ length: count }, () => ["."]);
}

/** Builds the content plan for a successful (or, cut short, failing) generation. */
export function buildContentPlan(options: ContentOptions): ContentPlan {
  const words = WORDS[options.lang];
  const numbers = progressNumbers(options.seed);
  const steps: string[][] = [];
  const jsonBody: Record<string, unknown> = { prompt: options.prompt, ratio: options.ratio, n: options.n };
  if (options.form === "percent") jsonBody.referenced_image_ids = [];
  const json = JSON.stringify(jsonBody, null, 2);
  steps.push([
    "```json\n",
    json.slice(0, Math.floor(json.length / 2)),
    json.slice(Math.floor(json.length / 2)),
    "\n```\n\n",
  ]);
  if (options.form === "asyncdata" || options.form === "newer") {
    const hex = createHash("sha256").update(`task:${options.seed}`).digest("hex");
    steps.push([
      `> ID: \`${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}\`\n\n`,
    ]);
  }
  if (options.form === "newer") {
    // The newer form (upstream-protocol.md A4): a `> ID:` line, `> 🎨 生成中...` with growing dots,
    // then the images (on pro.filesystem.site upstream), with no progress numbers and no completion marker.
    steps.push([`${words.newerGenerating}`], ...dots(4 + (numbers.length % 3)));
    const progressEnd = steps.length;
    steps.push(["\n\n"]);
    pushImages(steps, options, words.download);
    return { steps, progressEnd };
  }
  if (options.form === "percent") {
    steps.push([`${words.percentQueuing}.`], ...dots(2));
    for (const value of [...numbers, 100]) steps.push([`\n${words.percentProgress} **`, `${value}%**`]);
    const progressEnd = steps.length;
    steps.push(["\n\n"]);
    pushImages(steps, options, words.download);
    return { steps, progressEnd };
  }
  steps.push([words.queuing], ...dots(3 + (numbers.length % 4)));
  steps.push([`\n\n${words.generating}`], ...dots(3));
  steps.push([`\n\n${words.progress}`]);
  for (const value of numbers) {
    const digits = String(value);
    // Numbers of two digits arrive one digit per step so clients see a digit run still growing.
    for (const digit of digits) steps.push([digit]);
    steps.push(...dots(2 + (value % 3)));
  }
  const progressEnd = steps.length;
  steps.push(["[100](", options.decoyUrl, ")"]);
  const complete = options.form === "asyncdata" && options.lang === "zh" ? "> 生成完成 ✅" : words.complete;
  steps.push([`\n\n${complete}\n\n`]);
  if (options.form === "asyncdata") steps.push([`[${words.preview}](${options.previewUrl})\n\n`]);
  pushImages(steps, options, words.download);
  return { steps, progressEnd };
}

function pushImages(steps: string[][], options: ContentOptions, download: string): void {
  for (const image of options.images) {
    steps.push([`![${image.alt}](`, image.url, ")\n\n", `[${download}](${image.downloadUrl})\n\n`]);
  }
}

/**
 * The text of `busy`: what the image service says instead of drawing when it is overloaded
 * (WebAI2API#101, chatgpt2api#29), with no marker and no image.
 */
export function busyNotice(lang: "en" | "zh"): string {
  return lang === "zh"
    ? "正在处理图片\n\n目前有很多人在创建图片，因此可能需要一点时间。图片准备好后我们会通知你。"
    : "Processing image\n\nLots of people are creating images right now, so this might take a bit. We'll notify you when your image is ready.";
}

/** The text of `unknown_markers`: progress in a format no parser knows, and no image. */
export function unknownMarkersText(): string {
  return "> 🖌️ Rendering your picture ⏳\n> Stage 2 of 4: composing\n> Stage 3 of 4: refining\n";
}

/** The refusal text of `policy_text`. */
export function policyRefusal(lang: "en" | "zh"): string {
  return `\n\n${WORDS[lang].failed}\n`;
}
