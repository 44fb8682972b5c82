-- logwarden.state: the shared-dict layout the access check and the control
-- endpoint agree on, and the node epoch.
--
--   logwarden_blocks   "b:" .. address   value: reason   exptime: the block's TTL
--                      "c:" .. address   a challenge (logwarden.challenge), as "b:"
--   logwarden_state    "r:" .. cidr      value: reason   exptime: the block's TTL
--                      "q:" .. cidr      a challenged range, as "r:"
--                      "k:challenge"     the challenge's keys and settings (JSON)
--                      "v:ranges"        bumped on every change to ranges
--                      "d:rules"         the NodeRules document (JSON, validated)
--                      "v:rules"         its version (reported by /status)
--                      "g:rules"         bumped on every store of d:rules: workers
--                                        recompile when it moves
--                      "g:state"         bumped on every change a worker caches
--                                        anything of (blocks, ranges, rules): the
--                                        one key the access check reads per request
--                      "m:epoch"         set at nginx start (init_by_lua)
--                      "m:forcible"      how many sets evicted other entries
--                      "m:checked"       requests the access check ran on since
--                                        start (each worker adds its count once a
--                                        second; reported by /status)
--                      "n:" .. sig       control signatures seen (replay guard)
--   logwarden_limits   "l:" .. deployment .. "|" .. client .. "|" .. second
--                                        rate_limit counters (2 s TTL)
--
-- Exact addresses get the big dict: one lookup per request, however many.
-- Ranges live in logwarden_state, beside the rule set and the counters, so
-- that rebuilding a worker's range structure lists the few range keys, not
-- every blocked address. (It was named logwarden_rules until issue 13.)
--
-- The epoch tells the enforcer that this node's dicts were emptied: a reload
-- (HUP) keeps shared dicts and re-runs init_by_lua, so init only adds the
-- epoch when missing; a stop and start creates fresh dicts and a new epoch.

local ngx = ngx
local ngx_shared = ngx.shared
local ngx_log = ngx.log
local WARN = ngx.WARN
local str_format = string.format
local str_byte = string.byte

local _M = {
    _VERSION = '0.1.0',
    BLOCKS = "logwarden_blocks",
    STATE = "logwarden_state",
    LIMITS = "logwarden_limits",
    PREFIX_IP = "b:",
    PREFIX_RANGE = "r:",
    PREFIX_CHALLENGE_IP = "c:",
    PREFIX_CHALLENGE_RANGE = "q:",
    KEY_RANGES_VERSION = "v:ranges",
    KEY_RULES_DOC = "d:rules",
    KEY_RULES_VERSION = "v:rules",
    KEY_RULES_GEN = "g:rules",
    KEY_STATE_GEN = "g:state",
    KEY_EPOCH = "m:epoch",
    KEY_FORCIBLE = "m:forcible",
    KEY_CHECKED = "m:checked",
}

local function new_epoch()
    local hex
    local f = io.open("/dev/urandom", "rb")
    if f then
        local bytes = f:read(8)
        f:close()
        if bytes and #bytes == 8 then
            hex = bytes:gsub(".", function(c) return str_format("%02x", str_byte(c)) end)
        end
    end
    if not hex then
        math.randomseed(os.time() + (ngx.worker and ngx.worker.pid and ngx.worker.pid() or 0))
        hex = str_format("%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
    end
    return str_format("%d-%s", os.time(), hex)
end

local function dicts()
    local blocks, rules, limits = ngx_shared[_M.BLOCKS], ngx_shared[_M.STATE], ngx_shared[_M.LIMITS]
    if not blocks or not rules or not limits then
        return nil, "lua_shared_dict " .. _M.BLOCKS .. ", " .. _M.STATE .. " and " .. _M.LIMITS
            .. " must be declared (include conf/logwarden-http.conf)"
    end
    return blocks, rules, limits
end
_M.dicts = dicts

-- For init_by_lua: fails nginx start when the dicts are missing. Options:
--   rules_file  a JSON file rendered by the enforcer's reload fallback
--               (services/enforcer/file-fallback.ts), loaded into the dicts
--               at start and on every reload (HUP re-runs init_by_lua), for
--               sites that run without the control endpoint.
function _M.init(opts)
    local _, rules = assert(dicts())
    -- Reads schemas/security-filter/limits.json now: a missing file fails
    -- the start or reload here, not a PUT /rules later.
    require "logwarden.limits"

    rules:safe_add(_M.KEY_EPOCH, new_epoch())
    if opts and opts.rules_file then
        -- A file that cannot be read or is invalid keeps what the dicts hold
        -- and is logged: failing the reload would leave the old workers
        -- running with no sign in the config test.
        require("logwarden.fallback").load(opts.rules_file)
    end
end

-- Stores a validated NodeRules document (its JSON text) and its version,
-- then moves the generation counter that makes workers recompile. One key
-- holds the whole document: a worker reads the old one or the new one.
-- Returns true or nil, err.
function _M.store_rules(json, version)
    local _, rules = dicts()
    -- safe_set: never evict ranges or blocks' bookkeeping to make room.
    local ok, err = rules:safe_set(_M.KEY_RULES_DOC, json)
    if not ok then
        return nil, err
    end
    rules:set(_M.KEY_RULES_VERSION, version)
    -- os.time: this also runs in init_by_lua, where ngx.now is not promised.
    rules:incr(_M.KEY_RULES_GEN, 1, os.time() * 1000)
    _M.changed(rules)
    return true
end

-- Tells every worker that something it caches changed: call it after every
-- write to blocks, ranges or the rule set, never before (a worker that sees
-- the counter move must find the new data). Workers keep per-address "not
-- blocked" answers until it moves, so a block set without it would not be
-- enforced. Like the other counters it starts from the time in ms, so an
-- evicted and re-created counter never returns to a value a worker cached.
function _M.changed(rules)
    return rules:incr(_M.KEY_STATE_GEN, 1, os.time() * 1000)
end

-- The epoch; a new one when it was lost (the dict was flushed or evicted it),
-- which is what it is for: whatever this node held may be gone.
function _M.epoch()
    local _, rules = dicts()
    if not rules then
        return nil
    end
    local e = rules:get(_M.KEY_EPOCH)
    if not e then
        rules:safe_add(_M.KEY_EPOCH, new_epoch())
        e = rules:get(_M.KEY_EPOCH)
    end
    return e
end

-- dict:set that counts and logs evictions (a full dict drops the least
-- recently used entries: a block we were told to keep may be gone).
-- Returns ok, err, forcible.
function _M.set(dict, name, key, value, ttl)
    local ok, err, forcible = dict:set(key, value, ttl)
    if forcible then
        local _, rules = dicts()
        if rules then
            rules:incr(_M.KEY_FORCIBLE, 1, 0)
        end
        ngx_log(WARN, "logwarden: lua_shared_dict ", name,
            " is full: storing ", key, " evicted other entries; make it bigger")
    end
    return ok, err, forcible
end

-- Marks ranges changed. The counter starts at the current time in
-- ms, so an evicted and re-created counter never returns to a value a worker
-- has cached.
function _M.bump(rules)
    local v, err = rules:incr(_M.KEY_RANGES_VERSION, 1, math.floor(ngx.now() * 1000))
    _M.changed(rules)
    return v, err
end

return _M
