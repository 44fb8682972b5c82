-- logwarden.fallback: loads the file the enforcer renders for sites that run
-- without the control endpoint (services/enforcer/file-fallback.ts), from
-- init_by_lua at start and on every reload:
--
--   init_by_lua_block { require("logwarden.state").init({ rules_file = "/var/lib/logwarden/node-rules.json" }) }
--
-- The file: {"format":"logwarden-node-rules/1","generated_at":<unix s>,
--            "rules":<NodeRules>,"blocks":[{"ip":"203.0.113.7","expires_at":<unix s, 0 = permanent>,"reason":".."}]}
--
-- It is validated whole, like a PUT /rules; a bad or unreadable file changes
-- nothing (the dicts keep what the last good file or the enforcer put there)
-- and is logged at ERR. A good one replaces the rule set and makes the
-- blocks exactly the file's: blocks not in it are deleted, the others set
-- with their remaining TTL (expired ones skipped). Shared dicts survive a
-- reload, so the old workers, still serving while the new ones start, see
-- the new blocks at once and never a moment without any.

local cjson = require "cjson.safe"
local ip = require "logwarden.ip"
local state = require "logwarden.state"
local rules_mod = require "logwarden.rules"
local validate = require "logwarden.validate"

local ngx_log = ngx.log
local ERR = ngx.ERR
local NOTICE = ngx.NOTICE
local str_sub = string.sub

local _M = { _VERSION = '0.1.0', FORMAT = "logwarden-node-rules/1" }

local MAX_FILE = 64 * 1024 * 1024

local function read(path)
    local f, err = io.open(path, "rb")
    if not f then
        return nil, err
    end
    local size = f:seek("end")
    if size and size > MAX_FILE then
        f:close()
        return nil, "larger than " .. MAX_FILE .. " bytes"
    end
    f:seek("set")
    local data = f:read("*a")
    f:close()
    return data
end

-- Validates a decoded file. Returns rules, blocks or nil, err, field.
function _M.validate(doc, now)
    if type(doc) ~= "table" or doc.format ~= _M.FORMAT then
        return nil, 'not a logwarden fallback file ("format":"' .. _M.FORMAT .. '")', "format"
    end
    local ok, err, field = rules_mod.validate(doc.rules)
    if not ok then
        return nil, err, field == "" and "rules" or "rules." .. field
    end
    local list = doc.blocks
    if list == nil or list == cjson.null then
        list = {}
    end
    if type(list) ~= "table" then
        return nil, "must be an array", "blocks"
    end
    local out = {}
    for i, e in ipairs(list) do
        local at = "blocks[" .. (i - 1) .. "]"
        if type(e) ~= "table" then
            return nil, "must be an object", at
        end
        local b, why = ip.parse_block(e.ip)
        if not b then
            return nil, why, at .. ".ip"
        end
        local exp = e.expires_at or 0
        if type(exp) ~= "number" or exp < 0 then
            return nil, "must be unix seconds, 0 for permanent", at .. ".expires_at"
        end
        local reason = type(e.reason) == "string" and str_sub(e.reason, 1, 256) or ""
        local ttl = exp == 0 and 0 or math.ceil(exp - now)
        if exp == 0 or ttl > 0 then
            out[#out + 1] = { block = b, ttl = ttl, reason = reason }
        end
    end
    return doc.rules, out
end

function _M.load(path)
    local data, rerr = read(path)
    if not data then
        ngx_log(ERR, "logwarden.fallback: cannot read ", path, ": ", rerr, "; keeping the current rules and blocks")
        return nil, rerr
    end
    local doc = validate.decode(data)
    local rules_doc, blocks_or_err, field = _M.validate(doc, os.time())
    if not rules_doc then
        ngx_log(ERR, "logwarden.fallback: ", path, " refused at ", field, ": ", blocks_or_err,
            "; keeping the current rules and blocks")
        return nil, blocks_or_err
    end
    local blocks, rules = state.dicts()

    -- Blocks: exactly the file's.
    local keep_ip, keep_range = {}, {}
    for _, s in ipairs(blocks_or_err) do
        local b = s.block
        if b.exact then
            keep_ip[state.PREFIX_IP .. b.key] = s
        else
            keep_range[state.PREFIX_RANGE .. b.text] = s
        end
    end
    for _, key in ipairs(blocks:get_keys(0)) do
        if str_sub(key, 1, 2) == state.PREFIX_IP and not keep_ip[key] then
            blocks:delete(key)
        end
    end
    for _, key in ipairs(rules:get_keys(0)) do
        if str_sub(key, 1, 2) == state.PREFIX_RANGE and not keep_range[key] then
            rules:delete(key)
        end
    end
    local failed = 0
    for key, s in pairs(keep_ip) do
        if not state.set(blocks, state.BLOCKS, key, s.reason, s.ttl) then
            failed = failed + 1
        end
    end
    for key, s in pairs(keep_range) do
        if not state.set(rules, state.STATE, key, s.reason, s.ttl) then
            failed = failed + 1
        end
    end
    rules:incr(state.KEY_RANGES_VERSION, 1, os.time() * 1000)
    -- Before the rule set, which may fail to store: the blocks changed anyway.
    state.changed(rules)

    local ok, err = state.store_rules(cjson.encode(rules_doc), rules_doc.version)
    if not ok then
        ngx_log(ERR, "logwarden.fallback: rule set from ", path, " not stored: ", err)
        return nil, err
    end
    if failed > 0 then
        ngx_log(ERR, "logwarden.fallback: ", failed, " blocks from ", path, " not stored (shared dict full?)")
    end
    ngx_log(NOTICE, "logwarden.fallback: loaded ", path, ": rule set version ", rules_doc.version,
        ", ", #blocks_or_err, " blocks")
    return true
end

return _M
