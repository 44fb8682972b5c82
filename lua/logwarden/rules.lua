-- logwarden.rules: the NodeRules document (shared/control/node-rules.ts):
-- whitelist, deployment policies, protected routes and the security_filter
-- rule set, replaced as a whole by PUT /rules (or the fallback file).
--
--   validate(doc) -> true | nil, message, field ("routes[2].method")
--   compile(doc)  -> the per-worker structure the access check reads
--
-- The control endpoint validates the whole document before it stores
-- anything; each worker compiles it when the version key moves (access.lua),
-- so a request sees one compiled set from start to end.

local ip = require "logwarden.ip"
local ipset = require "logwarden.ipset"
local glob = require "logwarden.glob"
local filter = require "logwarden.filter"
local filter_validate = require "logwarden.filter_validate"
local geo = require "logwarden.geo"
local v = require "logwarden.validate"
local credential = require "logwarden.credential"

local type = type
local pairs = pairs
local ipairs = ipairs
local next = next
local str_find = string.find
local str_sub = string.sub
local str_match = string.match
local sort = table.sort

local is_object, absent = v.is_object, v.absent
local at, item, entry, keys_in, set_of, object_with = v.at, v.item, v.entry, v.keys_in, v.set_of, v.object_with
local valid_path = filter_validate.valid_path

local _M = { _VERSION = '0.1.0' }

local LIMITS = {
    whitelist = 10000, deployments = 10000, allowed_ips = 10000, blocked_paths = 1000,
    routes = 1000, name = 128, rate_limit = 1000000,
}
_M.LIMITS = LIMITS

local ROOT_KEYS = set_of { "version", "whitelist", "deployment_whitelist", "deployments", "routes", "security_filter", "geo" }
local WHITELIST_KEYS = set_of { "ips", "paths" }
local POLICY_KEYS = set_of { "enabled", "rate_limit", "allowed_ips", "blocked_paths" }
local ROUTE_KEYS = set_of { "id", "path", "method", "auth_type", "deployment", "credential_hash" }

-- An array of at most max items.
local function list(x, path, max)
    return v.array(x, path, 0, max)
end

local function blocks(x, path, max)
    local ok, err, field = list(x, path, max)
    if not ok then
        return nil, err, field
    end
    for i, s in ipairs(x) do
        local b, why = ip.parse_block(s)
        if not b then
            return nil, why, item(path, i)
        end
    end
    return true
end

-- A whitelist path: "/exact", or "/prefix*" (a prefix; no other star).
local function whitelist_path(p)
    return type(p) == "string" and str_sub(p, 1, 1) == "/" and #p <= 2048
        and (str_find(p, "*", 1, true) or #p) == #p and not str_find(p, "[%s%c]")
end

local function name_ok(s)
    return type(s) == "string" and #s <= LIMITS.name and not str_find(s, "%c")
end

-- A whitelist: { ips = addresses or CIDR blocks, paths = "/exact" or "/prefix*" }.
local function whitelist(wl, path)
    local ok, err, field = object_with(wl, WHITELIST_KEYS, path)
    if not ok then
        return nil, err, field
    end
    if not absent(wl.ips) then
        ok, err, field = blocks(wl.ips, at(path, "ips"), LIMITS.whitelist)
        if not ok then
            return nil, err, field
        end
    end
    if not absent(wl.paths) then
        ok, err, field = list(wl.paths, at(path, "paths"), LIMITS.whitelist)
        if not ok then
            return nil, err, field
        end
        for i, p in ipairs(wl.paths) do
            if not whitelist_path(p) then
                return nil, "a path starts with / and may end with one *", item(at(path, "paths"), i)
            end
        end
    end
    return true
end

local function policy(x, path)
    local ok, err, field = object_with(x, POLICY_KEYS, path)
    if not ok then
        return nil, err, field
    end
    if type(x.enabled) ~= "boolean" then
        return nil, "must be true or false", at(path, "enabled")
    end
    local r = x.rate_limit
    if not absent(r) and (type(r) ~= "number" or r ~= r or r < 0 or r > LIMITS.rate_limit) then
        return nil, "must be a number of requests per second from 0 (no limit) to " .. LIMITS.rate_limit, at(path, "rate_limit")
    end
    if not absent(x.allowed_ips) then
        ok, err, field = blocks(x.allowed_ips, at(path, "allowed_ips"), LIMITS.allowed_ips)
        if not ok then
            return nil, err, field
        end
    end
    if not absent(x.blocked_paths) then
        local p = at(path, "blocked_paths")
        ok, err, field = list(x.blocked_paths, p, LIMITS.blocked_paths)
        if not ok then
            return nil, err, field
        end
        for i, bp in ipairs(x.blocked_paths) do
            if not valid_path(bp) then
                return nil, 'must start with "/", without "?", "#", whitespace or control characters', item(p, i)
            end
        end
    end
    return true
end

local function route(x, path, seen)
    local ok, err, field = object_with(x, ROUTE_KEYS, path)
    if not ok then
        return nil, err, field
    end
    if type(x.id) ~= "string" or #x.id == 0 or #x.id > LIMITS.name or not str_match(x.id, "^[A-Za-z0-9_.:-]+$") then
        return nil, "must be 1 to " .. LIMITS.name .. " characters of A-Z a-z 0-9 _ . : -", at(path, "id")
    end
    if seen[x.id] then
        return nil, "duplicate route id " .. x.id, at(path, "id")
    end
    seen[x.id] = true
    if not valid_path(x.path) then
        return nil, 'must start with "/", without "?", "#", whitespace or control characters', at(path, "path")
    end
    if type(x.method) ~= "string" or not str_match(x.method, "^[A-Z]+$") or #x.method > 16 then
        return nil, 'must be an HTTP method in upper case, or "ALL"', at(path, "method")
    end
    if x.auth_type ~= "basic" and x.auth_type ~= "bearer" then
        return nil, 'must be "basic" or "bearer"', at(path, "auth_type")
    end
    if not absent(x.deployment) and not name_ok(x.deployment) then
        return nil, "must be a deployment name ('' for all)", at(path, "deployment")
    end
    local h, why = credential.parse(x.credential_hash)
    if not h then
        return nil, why, at(path, "credential_hash")
    end
    return true
end

function _M.validate(doc)
    if not is_object(doc) then
        return nil, "must be a JSON object", ""
    end
    local ok, err, field = keys_in(doc, ROOT_KEYS, "")
    if not ok then
        return nil, err, field
    end
    local v = doc.version
    -- Below 10^14: cjson prints 14 significant digits, and /status must
    -- report the version exactly (Date.now() in ms fits).
    if type(v) ~= "number" or v % 1 ~= 0 or v < 0 or v >= 1e14 then
        return nil, "must be an integer from 0 to 99999999999999", "version"
    end
    if not absent(doc.whitelist) then
        ok, err, field = whitelist(doc.whitelist, "whitelist")
        if not ok then
            return nil, err, field
        end
    end
    local dwl = doc.deployment_whitelist
    if not absent(dwl) then
        if not is_object(dwl) then
            return nil, "must be an object", "deployment_whitelist"
        end
        local n = 0
        for name, w in pairs(dwl) do
            n = n + 1
            local p = entry("deployment_whitelist", name)
            if n > LIMITS.deployments then
                return nil, "too many deployments", "deployment_whitelist"
            end
            if not name_ok(name) or name == "" then
                return nil, "must be a deployment name", p
            end
            ok, err, field = whitelist(w, p)
            if not ok then
                return nil, err, field
            end
        end
    end
    local deps = doc.deployments
    if not absent(deps) then
        if not is_object(deps) then
            return nil, "must be an object", "deployments"
        end
        local n = 0
        for name, p in pairs(deps) do
            n = n + 1
            local dp = entry("deployments", name)
            if not name_ok(name) or name == "" then
                return nil, "must be a deployment name of 1 to " .. LIMITS.name .. " characters", dp
            end
            ok, err, field = policy(p, dp)
            if not ok then
                return nil, err, field
            end
        end
        if n > LIMITS.deployments then
            return nil, "must have at most " .. LIMITS.deployments .. " deployments", "deployments"
        end
    end
    if not absent(doc.routes) then
        ok, err, field = list(doc.routes, "routes", LIMITS.routes)
        if not ok then
            return nil, err, field
        end
        local seen = {}
        for i, r in ipairs(doc.routes) do
            ok, err, field = route(r, item("routes", i), seen)
            if not ok then
                return nil, err, field
            end
        end
    end
    if not absent(doc.security_filter) then
        ok, err, field = filter_validate.validate(doc.security_filter, "security_filter")
        if not ok then
            return nil, err, field
        end
    end
    if not absent(doc.geo) then
        ok, err, field = geo.validate(doc.geo, "geo")
        if not ok then
            return nil, err, field
        end
    end
    return true
end

---------------------------------------------------------------------------
-- Compilation

local function ip_set(entries)
    local set = ipset.new()
    for _, s in ipairs(entries) do
        ipset.add(set, assert(ip.parse_block(s)))
    end
    return ipset.finish(set)
end

-- Protected routes, most specific first: a method before ALL at the same
-- path, then by path specificity (glob.more_specific), then by id.
local function route_order(a, b)
    if a.m.literal ~= b.m.literal or a.m.prefix ~= b.m.prefix or a.m.source ~= b.m.source then
        return glob.more_specific(a.m, b.m)
    end
    if (a.method == "ALL") ~= (b.method == "ALL") then
        return b.method == "ALL"
    end
    return a.id < b.id
end

_M.route_order = route_order

-- The first path segment a route needs ("admin" for /admin, /admin/x,
-- /admin/*/y), or nil when it can match more than one (/, /adm*).
local function route_segment(m)
    local p = m.source
    local slash = str_find(p, "/", 2, true)
    local star = str_find(p, "*", 1, true)
    if m.prefix then
        if p == "/" then
            return nil
        end
        return str_sub(p, 2, (slash or #p + 1) - 1)
    end
    if slash and slash < star then
        return str_sub(p, 2, slash - 1)
    end
    return nil
end

-- Routes indexed by the first segment of the request path: a request looks
-- at the routes of its segment and those that may match any, not at all.
local function route_index(list)
    sort(list, route_order)
    local ix = { by_seg = {}, any = {} }
    for _, r in ipairs(list) do
        local seg = route_segment(r.m)
        local l = ix.any
        if seg then
            l = ix.by_seg[seg]
            if not l then
                l = {}
                ix.by_seg[seg] = l
            end
        end
        l[#l + 1] = r
    end
    ix.has_any = #ix.any > 0
    return ix
end

-- An empty compiled set: what a node enforces before its first PUT /rules.
local function compile_whitelist(wl)
    local c = { ips = ip_set(not absent(wl.ips) and wl.ips or {}), exact = {}, prefix = {} }
    local npaths = 0
    for _, p in ipairs(not absent(wl.paths) and wl.paths or {}) do
        npaths = npaths + 1
        if str_sub(p, -1) == "*" then
            c.prefix[#c.prefix + 1] = str_sub(p, 1, -2)
        else
            c.exact[p] = true
        end
    end
    c.paths = npaths > 0
    c.any = c.ips.size > 0 or npaths > 0
    c.n = c.ips.size + npaths
    return c
end

function _M.empty()
    return _M.compile({ version = 0 })
end

function _M.compile(doc)
    local R = { version = doc.version, counts = { whitelist = 0, deployments = 0, routes = 0, filter_rules = 0 } }

    local wl = compile_whitelist(not absent(doc.whitelist) and doc.whitelist or {})
    R.wl_ips, R.wl_exact, R.wl_prefix, R.wl_paths = wl.ips, wl.exact, wl.prefix, wl.paths
    R.wl_any = wl.any
    R.counts.whitelist = wl.n

    -- A deployment's own whitelist ($logwarden_deployment), checked after the node-wide one.
    R.dep_wl = {}
    R.has_dep_wl = false
    for name, w in pairs(not absent(doc.deployment_whitelist) and doc.deployment_whitelist or {}) do
        local c = compile_whitelist(w)
        if c.any then
            R.dep_wl[name] = c
            R.has_dep_wl = true
            R.counts.whitelist = R.counts.whitelist + c.n
        end
    end

    -- Only enabled policies that refuse something are kept: a request to any
    -- other deployment costs one table lookup.
    R.policies = {}
    for name, p in pairs(not absent(doc.deployments) and doc.deployments or {}) do
        R.counts.deployments = R.counts.deployments + 1
        if p.enabled then
            local pol = { allowed = nil, blocked = nil, rate = 0 }
            if not absent(p.allowed_ips) and #p.allowed_ips > 0 then
                pol.allowed = ip_set(p.allowed_ips)
            end
            if not absent(p.blocked_paths) and #p.blocked_paths > 0 then
                pol.blocked = {}
                for i, bp in ipairs(p.blocked_paths) do
                    pol.blocked[i] = glob.path(bp)
                end
            end
            if not absent(p.rate_limit) and p.rate_limit > 0 then
                pol.rate = p.rate_limit
            end
            if pol.allowed or pol.blocked or pol.rate > 0 then
                R.policies[name] = pol
            end
        end
    end
    R.has_policies = next(R.policies) ~= nil

    -- Routes per deployment ('' = every deployment); a deployment's own routes
    -- are tried before the ones for all.
    R.routes_for = {}
    R.routes_all = {}
    for _, r in ipairs(not absent(doc.routes) and doc.routes or {}) do
        R.counts.routes = R.counts.routes + 1
        local c = {
            id = r.id, m = glob.path(r.path), method = r.method,
            basic = r.auth_type == "basic",
            hash_text = r.credential_hash,
            hash = assert(credential.parse(r.credential_hash)),
            blocked_by = "route:" .. r.id,
            challenge = (r.auth_type == "basic" and 'Basic realm="' or 'Bearer realm="') .. r.id .. '"',
        }
        local dep = not absent(r.deployment) and r.deployment or ""
        local l = R.routes_all
        if dep ~= "" then
            l = R.routes_for[dep]
            if not l then
                l = {}
                R.routes_for[dep] = l
            end
        end
        l[#l + 1] = c
    end
    R.routes_all = route_index(R.routes_all)
    for dep, l in pairs(R.routes_for) do
        R.routes_for[dep] = route_index(l)
    end
    R.has_routes = R.counts.routes > 0
    -- Only then does a route check need $logwarden_deployment.
    R.has_dep_routes = next(R.routes_for) ~= nil

    if not absent(doc.security_filter) then
        local f = filter.compile(doc.security_filter, geo.compile(doc.geo))
        R.counts.filter_rules = f.rules
        if not f.empty then
            R.filter = f
        end
    end
    return R
end

return _M
