import type { IncomingMessage, ServerResponse } from "node:http";
import type { ScriptBook } from "./directives";
import type { ImageStore } from "./image-store";
import type { ModelFaults } from "./model-faults";

/** One upstream call as the simulator saw it, for tests to assert on. */
export interface CallRecord {
  path: string;
  model: string | null;
  /** The user message (chat) or `prompt` field (images). */
  prompt: string | null;
  startedAt: number;
  /** The client closed the connection before the simulator finished its answer. */
  closedByClient: boolean;
  closedAt?: number;
  /** Fault kind applied to this call (`ok` when none). */
  kind?: string;
  /** 1-based number of this call among calls with the same prompt. */
  call?: number;
  requestId?: string;
  method: string;
  /** The TCP connection the request came on (1, 2, … in the order they were accepted). */
  connection: number;
}

/** How an image URL misbehaves (image host faults). */
export interface ImageFault {
  kind: "404" | "403" | "500" | "html" | "truncated" | "slow";
  /** Fetches that still fail; afterwards the image is served normally. */
  remaining: number;
  delayMs: number;
}

/** The API key's quota as `GET /api/usage/token` reports it (new-api's token usage). */
export interface SimQuota {
  /** Quota left, in new-api units (500,000 per US dollar). */
  total_available: number;
  unlimited_quota: boolean;
  /** Seconds since the epoch; 0 for never. */
  expires_at: number;
}

/** State shared by every request of one simulator instance. */
export interface SimContext {
  /** Unlimited unless set; when used up, generation calls answer 403 `insufficient_user_quota`. */
  quota: SimQuota;
  baseUrl(): string;
  images: ImageStore;
  imageFaults: Map<string, ImageFault>;
  /** Image id -> epoch ms after which the URL answers 404. */
  imageExpiry: Map<string, number>;
  scripts: ScriptBook;
  /** Models failing at a set rate (`POST /_sim/model-faults`). */
  modelFaults: ModelFaults;
  stepMs: number;
  pingMs: number;
}

/** One request being answered. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  record: CallRecord;
  /** Aborts when the client goes away or the simulator closes. */
  signal: AbortSignal;
  requestId: string;
  /** Call before the simulator itself destroys the socket, so the record does not blame the client. */
  markServerClosed(): void;
}
