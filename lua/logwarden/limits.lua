-- logwarden.limits: the limits and the country list of security_filter rule
-- sets, read from schemas/security-filter/limits.json, the file the
-- TypeScript validator reads too (shared/security-filter/limits.ts): neither
-- language keeps a copy.
--
-- The file is found beside the Lua tree: <dir>/lua/logwarden/limits.lua reads
-- <dir>/schemas/security-filter/limits.json (the repository's layout, and
-- /etc/logwarden/lua + /etc/logwarden/schemas when installed as lua/README.md
-- says). It is read once, when the module is first required: state.init()
-- requires it in init_by_lua, so a missing or broken file stops nginx from
-- starting (or reloading) with the path in the error, instead of failing a
-- request later.

local cjson = require "cjson.safe"

local function data_path()
    local src = debug.getinfo(1, "S").source
    local dir = src:sub(1, 1) == "@" and src:match("^@(.*)/logwarden/[^/]*$")
    return (dir or ".") .. "/../schemas/security-filter/limits.json"
end

local function load(path)
    local f, err = io.open(path, "rb")
    local text = f and f:read("*a")
    if not text then
        return nil, err
    end
    f:close()
    local doc, derr = cjson.decode(text)
    if type(doc) ~= "table" or type(doc.limits) ~= "table" or type(doc.country_codes) ~= "table"
        or type(doc.block_http_status) ~= "table" or type(doc.on_filtered) ~= "table" or type(doc.challenge) ~= "table" then
        return nil, "not a limits document: " .. tostring(derr or "missing limits, block_http_status, on_filtered, challenge or country_codes")
    end
    return doc
end

local path = data_path()
local doc, err = load(path)
if not doc then
    error("logwarden.limits: cannot read " .. path .. " (install schemas/security-filter/limits.json"
        .. " beside lua/, see lua/README.md): " .. tostring(err), 0)
end

-- The same wording as the TypeScript validator's: one of "WARN", "CHALLENGE", "BLOCK".
local on_filtered, quoted = {}, {}
for i, a in ipairs(doc.on_filtered) do
    on_filtered[a] = true
    quoted[i] = '"' .. a .. '"'
end

local countries = {}
for _, cc in ipairs(doc.country_codes) do
    countries[cc] = true
end

return {
    _VERSION = '0.1.0',
    -- Keys as in the file: domains, paths, rules_per_filter, user_agents,
    -- user_agents_per_filter, geo, ips, id_length, pattern_length,
    -- path_length, host_length, errors, version_max.
    LIMITS = doc.limits,
    -- default, min, max
    BLOCK_STATUS = doc.block_http_status,
    -- code -> true
    COUNTRIES = countries,
    -- action -> true ("WARN", "CHALLENGE", "BLOCK"), and the list for messages
    ON_FILTERED = on_filtered,
    ON_FILTERED_TEXT = table.concat(quoted, ", "),
    -- http_status; difficulty_bits and cookie_ttl_s: default, min, max
    CHALLENGE = doc.challenge,
    PATH = path,
}
