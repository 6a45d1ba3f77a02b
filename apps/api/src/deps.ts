import type { PrismaClient } from "@darkroom/db";
import type { Logger } from "@darkroom/logger";
import type { GenerationQueue } from "@darkroom/queue";
import type { ImageStorage } from "@darkroom/storage";
import type { Redis } from "ioredis";
import type { ApiConfig } from "./config";
import type { ImageUrlSigner } from "./http/image-urls";

/** Everything a route needs, built once per process and passed down. */
export interface ApiDeps {
  config: ApiConfig;
  db: PrismaClient;
  redis: Redis;
  queue: GenerationQueue;
  storage: ImageStorage;
  signer: ImageUrlSigner;
  logger: Logger;
}
