// The fair-admission state machine, as Redis scripts: every step runs atomically in Redis, so any
// number of API and worker processes can call them at once. Keys live under `<prefix>:fair`:
//   intake:<tenant>  ZSET  queued work of the tenant; score = priority rank * 1e14 + created ms
//   ready            SET   tenants whose intake is not empty
//   conf             HASH  tenant -> "<weight> <max_concurrency or -1>"
//   meta             HASH  work -> "<tenant> <score>" (kept while the work is anywhere below)
//   later            ZSET  work waiting for a retry; score = when it may be admitted again (ms)
//   admitted         HASH  work -> "<tenant> <admitted ms> <p|s> <BullMQ job id>" (p: not started yet)
//   running          HASH  tenant -> admitted work (started or not): what max_concurrency caps
//   pending          HASH  tenant -> admitted work not started yet (for queue positions)
//   workers / cap    ZSET worker -> heartbeat expiry (ms) / HASH worker -> its concurrency
//   capacity         STRING the sum of the live workers' concurrency
//   seq              STRING a counter that makes each admission's BullMQ job id unique
// A work id (the job id, or `<job id>-r<n>` after the n-th user retry) is in exactly one of intake,
// later and admitted, or in none; every script below keeps that true.

const PARSE = `
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function parseAdmitted(v)
  local tenant, at, state, bull = string.match(v, '^(%S+) (%S+) (%S+) (%S+)$')
  return tenant, at, state, bull
end
-- The admission of work when the BullMQ id \`bull\` holds it: tenant, admitted ms, state; else nil.
local function heldBy(K, work, bull)
  local v = redis.call('HGET', K .. ':admitted', work)
  if not v then return nil end
  local tenant, at, state, held = parseAdmitted(v)
  if held ~= bull then return nil end
  return tenant, at, state
end
-- For each (work, BullMQ id, ...) group of \`step\` arguments of args[from..last]: fn(work, tenant,
-- admitted ms, state, i) when the BullMQ id holds the work's admission. 1 per group where fn said
-- true, else 0.
local function eachHeld(K, args, from, last, step, fn)
  local out = {}
  for i = from, last - step + 1, step do
    local tenant, at, state = heldBy(K, args[i], args[i + 1])
    out[#out + 1] = (tenant and fn(args[i], tenant, at, state, i)) and 1 or 0
  end
  return out
end
local function recomputeCapacity(K, now)
  local dead = redis.call('ZRANGEBYSCORE', K .. ':workers', '-inf', now)
  if #dead > 0 then
    redis.call('ZREMRANGEBYSCORE', K .. ':workers', '-inf', now)
    redis.call('HDEL', K .. ':cap', unpack(dead))
  end
  local cap = 0
  for _, v in ipairs(redis.call('HVALS', K .. ':cap')) do cap = cap + tonumber(v) end
  redis.call('SET', K .. ':capacity', cap)
  return cap
end
`;

/** ARGV: K, work, tenant, score, weight, max (-1 none), nudge channel, due ms (0 = now). 1 if queued. */
export const ENQUEUE = `${PARSE}
local K, work, tenant, score = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
redis.call('HSETNX', K .. ':conf', tenant, ARGV[5] .. ' ' .. ARGV[6])
if redis.call('HEXISTS', K .. ':admitted', work) == 1 then return 0 end
if redis.call('ZSCORE', K .. ':later', work) then return 0 end
redis.call('HSET', K .. ':meta', work, tenant .. ' ' .. score)
local due = tonumber(ARGV[8])
if due > 0 then
  redis.call('ZADD', K .. ':later', due, work)
  return 1
end
redis.call('ZADD', K .. ':intake:' .. tenant, 'NX', score, work)
redis.call('SADD', K .. ':ready', tenant)
local cap = tonumber(redis.call('GET', K .. ':capacity') or '0')
if redis.call('HLEN', K .. ':admitted') < cap then redis.call('PUBLISH', ARGV[7], '1') end
return 1
`;

/**
 * admitWork(K, limit): moves due retries back to their intakes, then admits up to `limit` while the
 * admitted total is below the live capacity: each slot goes to the tenant with queued work, under its
 * cap, whose running / weight is lowest (ties: the oldest head). Returns {next retry due ms or '',
 * work, BullMQ id, work, BullMQ id, ...}.
 */
const ADMIT_FN = `
local function admitWork(K, limit)
  local now = nowMs()
  local cap = recomputeCapacity(K, now)
  local due = redis.call('ZRANGEBYSCORE', K .. ':later', '-inf', now, 'LIMIT', 0, 1000)
  for _, work in ipairs(due) do
    redis.call('ZREM', K .. ':later', work)
    local meta = redis.call('HGET', K .. ':meta', work)
    if meta then
      local tenant, score = string.match(meta, '^(%S+) (%S+)$')
      redis.call('ZADD', K .. ':intake:' .. tenant, 'NX', score, work)
      redis.call('SADD', K .. ':ready', tenant)
    end
  end
  local out = {''}
  local total = redis.call('HLEN', K .. ':admitted')
  if total < cap then
    local tenants = {}
    for _, t in ipairs(redis.call('SMEMBERS', K .. ':ready')) do
      local head = redis.call('ZRANGE', K .. ':intake:' .. t, 0, 0, 'WITHSCORES')
      if #head == 0 then
        redis.call('SREM', K .. ':ready', t)
      else
        local weight, max = 1, -1
        local conf = redis.call('HGET', K .. ':conf', t)
        if conf then
          local w, m = string.match(conf, '^(%S+) (%S+)$')
          weight, max = tonumber(w), tonumber(m)
        end
        tenants[#tenants + 1] = { id = t, work = head[1], age = math.fmod(tonumber(head[2]), 1e14),
          weight = weight, max = max, running = tonumber(redis.call('HGET', K .. ':running', t) or '0') }
      end
    end
    while total < cap and (#out - 1) / 2 < limit do
      local best, bestRatio
      for _, s in ipairs(tenants) do
        if s.work and (s.max < 0 or s.running < s.max) then
          local ratio = s.running / s.weight
          if best == nil or ratio < bestRatio or (ratio == bestRatio and s.age < best.age) then
            best, bestRatio = s, ratio
          end
        end
      end
      if best == nil then break end
      redis.call('ZREM', K .. ':intake:' .. best.id, best.work)
      local bull = best.work .. '-a' .. redis.call('INCR', K .. ':seq')
      redis.call('HSET', K .. ':admitted', best.work, best.id .. ' ' .. now .. ' p ' .. bull)
      redis.call('HINCRBY', K .. ':running', best.id, 1)
      redis.call('HINCRBY', K .. ':pending', best.id, 1)
      out[#out + 1] = best.work
      out[#out + 1] = bull
      best.running = best.running + 1
      total = total + 1
      local head = redis.call('ZRANGE', K .. ':intake:' .. best.id, 0, 0, 'WITHSCORES')
      if #head == 0 then
        best.work = nil
        redis.call('SREM', K .. ':ready', best.id)
      else
        best.work, best.age = head[1], math.fmod(tonumber(head[2]), 1e14)
      end
    end
  end
  local nextDue = redis.call('ZRANGE', K .. ':later', 0, 0, 'WITHSCORES')
  if #nextDue > 0 then out[1] = nextDue[2] end
  return out
end
`;

const STARTED_FN = `
local function markStarted(K, args, from, last)
  return eachHeld(K, args, from, last, 2, function(work, tenant, at, state, i)
    if state ~= 'p' then return false end
    redis.call('HSET', K .. ':admitted', work, tenant .. ' ' .. at .. ' s ' .. args[i + 1])
    redis.call('HINCRBY', K .. ':pending', tenant, -1)
    return true
  end)
end
`;

/**
 * ARGV: K, then (work, BullMQ id) per admission. Marks each admitted work as started (its worker
 * took it); one call for every job a worker took meanwhile. Returns 1 or 0 per admission.
 */
export const STARTED = `${PARSE}${STARTED_FN}
return markStarted(ARGV[1], ARGV, 2, #ARGV)
`;

const RELEASE_FN = `
local function releaseWork(K, args, from)
  return eachHeld(K, args, from, #args, 3, function(work, tenant, at, state, i)
    redis.call('HDEL', K .. ':admitted', work)
    if redis.call('HINCRBY', K .. ':running', tenant, -1) <= 0 then redis.call('HDEL', K .. ':running', tenant) end
    if state == 'p' and redis.call('HINCRBY', K .. ':pending', tenant, -1) <= 0 then
      redis.call('HDEL', K .. ':pending', tenant)
    end
    local due = tonumber(args[i + 2])
    if due > 0 and redis.call('HEXISTS', K .. ':meta', work) == 1 then
      redis.call('ZADD', K .. ':later', due, work)
    else
      redis.call('HDEL', K .. ':meta', work)
    end
    return true
  end)
end
`;

/**
 * ARGV: K, then (work, BullMQ id, due ms (0 = done)) per admission. Frees each work's slot, fenced
 * on the BullMQ id (a stale duplicate frees nothing); with a due time the work waits in `later`
 * for its retry. One call for every job a worker finished meanwhile. Returns 1 or 0 per admission.
 */
export const RELEASE = `${PARSE}${RELEASE_FN}
return releaseWork(ARGV[1], ARGV, 2)
`;

/**
 * ARGV: K, batch, s, then s (work, BullMQ id) pairs as STARTED takes them, then (work, BullMQ id,
 * due ms) per admission as RELEASE takes them. STARTED, RELEASE, then admitWork up to `batch` into
 * the slots it freed, in one call: a worker's jobs mark their start and hand their slots on without
 * a round trip of their own, and a start is always marked before (or with) its slot's release.
 * Returns {s, s results as STARTED gives them, number of releases n, n results as RELEASE gives
 * them, then what admitWork returns}.
 */
export const RELEASE_ADMIT = `${PARSE}${STARTED_FN}${RELEASE_FN}${ADMIT_FN}
local from = 4 + 2 * tonumber(ARGV[3])
local marked = markStarted(ARGV[1], ARGV, 4, from - 1)
local freed = releaseWork(ARGV[1], ARGV, from)
local admitted = admitWork(ARGV[1], tonumber(ARGV[2]))
local out = {#marked}
for _, v in ipairs(marked) do out[#out + 1] = v end
out[#out + 1] = #freed
for _, v in ipairs(freed) do out[#out + 1] = v end
for _, v in ipairs(admitted) do out[#out + 1] = v end
return out
`;

/** ARGV: K, work. Takes queued (not admitted) work out of its intake or of \`later\`: a cancel. */
export const REMOVE = `${PARSE}
local K, work = ARGV[1], ARGV[2]
if redis.call('HEXISTS', K .. ':admitted', work) == 1 then return 0 end
local meta = redis.call('HGET', K .. ':meta', work)
if not meta then return 0 end
local tenant = string.match(meta, '^(%S+) ')
redis.call('ZREM', K .. ':intake:' .. tenant, work)
redis.call('ZREM', K .. ':later', work)
redis.call('HDEL', K .. ':meta', work)
return 1
`;

/**
 * ARGV: K, work, BullMQ id. The admission's BullMQ job never ran (its admitter died before adding
 * it, or it ended without freeing its slot): a new BullMQ id for the same slot, or nil when the
 * work moved on meanwhile.
 */
export const READMIT = `${PARSE}
local K, work = ARGV[1], ARGV[2]
local v = redis.call('HGET', K .. ':admitted', work)
if not v then return false end
local tenant, at, state, bull = parseAdmitted(v)
if bull ~= ARGV[3] then return false end
local fresh = work .. '-a' .. redis.call('INCR', K .. ':seq')
redis.call('HSET', K .. ':admitted', work, tenant .. ' ' .. nowMs() .. ' ' .. state .. ' ' .. fresh)
return fresh
`;

/** ARGV: K, worker, concurrency (0 = leave), ttl ms. Returns the live capacity. */
export const HEARTBEAT = `${PARSE}
local K, worker, concurrency = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now = nowMs()
if concurrency > 0 then
  redis.call('ZADD', K .. ':workers', now + tonumber(ARGV[4]), worker)
  redis.call('HSET', K .. ':cap', worker, concurrency)
else
  redis.call('ZREM', K .. ':workers', worker)
  redis.call('HDEL', K .. ':cap', worker)
end
return recomputeCapacity(K, now)
`;

/** ARGV: K. {capacity, admitted, queued in intakes, waiting for a retry, tenant, running, tenant, running...}. */
export const SNAPSHOT = `
local K = ARGV[1]
local queued = 0
for _, t in ipairs(redis.call('SMEMBERS', K .. ':ready')) do queued = queued + redis.call('ZCARD', K .. ':intake:' .. t) end
local out = { tonumber(redis.call('GET', K .. ':capacity') or '0'), redis.call('HLEN', K .. ':admitted'), queued,
  redis.call('ZCARD', K .. ':later') }
local running = redis.call('HGETALL', K .. ':running')
for i = 1, #running do out[#out + 1] = running[i] end
return out
`;

/**
 * placeOf(K, work, tenant or nil): state, position, tenant running of one work item (as POSITIONS
 * describes them); the tenant, when given, spares reading it from meta.
 */
const PLACE = `
local function placeOf(K, work, tenant)
  local state, position, running = 0, 0, 0
  local v = redis.call('HGET', K .. ':admitted', work)
  if v then
    local t, at, st = parseAdmitted(v)
    tenant = t
    if st == 'p' then state, position = 2, 1 else state = 3 end
  else
    if tenant == nil then
      local meta = redis.call('HGET', K .. ':meta', work)
      if meta then tenant = string.match(meta, '^(%S+) ') end
    end
    if tenant then
      local rank = redis.call('ZRANK', K .. ':intake:' .. tenant, work)
      if rank then
        state = 1
        position = tonumber(redis.call('HGET', K .. ':pending', tenant) or '0') + rank + 1
      elseif redis.call('ZSCORE', K .. ':later', work) then
        state = 4
      end
    end
  end
  if tenant then running = tonumber(redis.call('HGET', K .. ':running', tenant) or '0') end
  return state, position, running
end
`;

/**
 * ARGV: K, work... For each: {state, position, tenant running}. State 0 unknown, 1 queued in its
 * intake, 2 admitted (not started), 3 started, 4 waiting for a retry. Position counts the tenant's
 * admitted-but-not-started work first (1 = the next to start).
 */
export const POSITIONS = `${PARSE}${PLACE}
local K = ARGV[1]
local out = {}
for i = 2, #ARGV do
  local state, position, running = placeOf(K, ARGV[i], nil)
  out[#out + 1] = state
  out[#out + 1] = position
  out[#out + 1] = running
end
return out
`;

/**
 * ARGV as ENQUEUE. ENQUEUE, then where the work stands, in the same call: {1 if queued else 0,
 * state, position, tenant running}, state and position as POSITIONS gives them.
 */
export const ENQUEUE_PLACED = `${PARSE}${PLACE}
local function enqueue()
${ENQUEUE.slice(PARSE.length)}
end
local queued = enqueue()
local state, position, running = placeOf(ARGV[1], ARGV[2], ARGV[3])
return {queued, state, position, running}
`;
