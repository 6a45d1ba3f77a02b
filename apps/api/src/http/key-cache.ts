import { type DbClient, findTenantByKeyHash, type TenantAuth } from "@darkroom/db";
import { apiKeyRevokedChannel, createRedisConnection, TENANT_CHANGED_PREFIX } from "@darkroom/queue";
import type { Redis } from "ioredis";

interface Entry {
  auth: TenantAuth;
  expiresAt: number;
}

/**
 * Known-good API keys of this process, so that a request does not read Postgres to authenticate.
 * A revocation reaches every process through Redis pub/sub and removes the key at once; the TTL
 * only bounds what a lost message could cost. A cached key also keeps the tenant's settings it was
 * read with (its `rate_limit_per_minute` and share); a settings change (PATCH) announces itself on
 * the same channel and the tenant's keys are read again. While the subscription is not confirmed (Redis down,
 * reconnecting) the cache is bypassed and emptied, since revocations may be missed meanwhile.
 */
export class ApiKeyCache {
  private readonly entries = new Map<string, Entry>();
  private readonly subscriber: Redis;
  private subscribed = false;
  /** Bumped by every invalidation: a lookup that overlapped one does not cache its (maybe stale) answer. */
  private generation = 0;

  constructor(
    redisUrl: string,
    private readonly prefix: string,
    private readonly ttlMs = 60_000,
    private readonly maxEntries = 10_000,
  ) {
    this.subscriber = createRedisConnection(redisUrl, "worker");
    this.subscriber.on("error", () => undefined); // reconnects by itself; the cache is bypassed meanwhile
    this.subscriber.on("close", () => {
      this.subscribed = false;
      this.clear();
    });
    this.subscriber.on("ready", () => this.subscribe());
    this.subscriber.on("message", (_channel: string, message: string) => {
      if (message.startsWith(TENANT_CHANGED_PREFIX)) this.forgetTenant(message.slice(TENANT_CHANGED_PREFIX.length));
      else this.forget(message);
    });
  }

  private subscribe(): void {
    this.subscriber.subscribe(apiKeyRevokedChannel(this.prefix)).then(
      () => {
        this.clear();
        this.subscribed = true;
      },
      () => undefined,
    );
  }

  /** The cached tenant of a key's hash (`hashApiKey`); null when not cached (or the cache is bypassed). */
  cached(keyHash: string): TenantAuth | null {
    if (!this.subscribed) return null;
    const hit = this.entries.get(keyHash);
    return hit !== undefined && hit.expiresAt > Date.now() ? hit.auth : null;
  }

  /** The tenant of a key's hash (`hashApiKey`), from the cache or Postgres; null when unknown or revoked. */
  async authenticate(db: DbClient, keyHash: string): Promise<TenantAuth | null> {
    const hash = keyHash;
    const hit = this.cached(hash);
    if (hit !== null) return hit;
    const generation = this.generation;
    const auth = await findTenantByKeyHash(db, hash);
    if (auth !== null && this.subscribed && generation === this.generation) {
      if (this.entries.size >= this.maxEntries) {
        const oldest = this.entries.keys().next();
        if (oldest.done !== true) this.entries.delete(oldest.value);
      }
      this.entries.set(hash, { auth, expiresAt: Date.now() + this.ttlMs });
    }
    return auth;
  }

  /** Drops a (revoked) key. */
  forget(apiKeyId: string): void {
    this.generation++;
    for (const [hash, entry] of this.entries) if (entry.auth.apiKeyId === apiKeyId) this.entries.delete(hash);
  }

  /** Drops every key of a tenant whose settings changed (they are read again with the new ones). */
  forgetTenant(tenantId: string): void {
    this.generation++;
    for (const [hash, entry] of this.entries) if (entry.auth.tenantId === tenantId) this.entries.delete(hash);
  }

  private clear(): void {
    this.generation++;
    this.entries.clear();
  }

  close(): void {
    this.subscriber.disconnect();
  }
}
