-- logwarden.glob: wildcard patterns without backtracking, and the path
-- patterns the rule set shares (security_filter paths, protected routes,
-- blocked_paths).
--
-- A pattern is split at its stars into chunks: the first must match at the
-- start, the last at the end, each middle one at its leftmost place after the
-- previous one (the greedy glob algorithm). That is linear in the subject per
-- chunk, where a Lua pattern with one ".-" per star backtracks polynomially
-- (a hostile 4 KiB user agent against "*a*a*a*a*a*a*a*a*b" would stall the
-- worker). Chunks without "?" are compared as plain strings.
--
-- User-agent mode: ASCII letters fold (the caller lower-cases the subject with
-- string.lower, the pattern is lower-cased here) and "?" is one UTF-8 code
-- point. Path mode: only "*" is special and case counts.

local str_find = string.find
local str_gsub = string.gsub
local str_lower = string.lower
local str_sub = string.sub
local str_byte = string.byte

local _M = { _VERSION = '0.1.0' }

-- One code point: a lead byte and up to three continuation bytes (bounded,
-- so the pattern itself cannot backtrack far).
local CODE_POINT = "[%z\1-\127\194-\244][\128-\191]?[\128-\191]?[\128-\191]?"

local function escape(s)
    return (str_gsub(s, "[^%w]", "%%%0"))
end

-- True when s starts with text (len = #text > 0). A plain find from 1 alone
-- would search the whole subject when the start differs, and an anchored
-- pattern goes through the pattern matcher, which the JIT does not compile:
-- the first and last bytes turn most mismatches away first.
local function starts(s, text, len, first, last)
    return str_byte(s, 1) == first and str_byte(s, len) == last and str_find(s, text, 1, true) == 1
end

local function chunk(text, ua)
    if ua and str_find(text, "?", 1, true) then
        local parts, n = {}, 0
        for lit, q in text:gmatch("([^?]*)(%??)") do
            if lit ~= "" then
                n = n + 1
                parts[n] = escape(lit)
            end
            if q ~= "" then
                n = n + 1
                parts[n] = CODE_POINT
            end
        end
        -- A "?" is at least one byte.
        return { plain = false, pat = table.concat(parts), min = #text }
    end
    return { plain = true, text = text, len = #text, pat = escape(text), min = #text,
             first = str_byte(text, 1), last = str_byte(text, -1) }
end

-- Compiles a wildcard pattern. ua: user-agent mode (see above).
function _M.compile(pattern, ua)
    if ua then
        pattern = str_lower(pattern)
    end
    pattern = str_gsub(pattern, "%*+", "*")
    local chunks, n = {}, 0
    local from = 1
    while true do
        local star = str_find(pattern, "*", from, true)
        n = n + 1
        chunks[n] = chunk(str_sub(pattern, from, (star or 0) - 1), ua)
        if not star then
            break
        end
        from = star + 1
    end
    -- The fewest bytes a match needs: shorter subjects (an absent user
    -- agent, for one) are refused without a search.
    local min = 0
    for i = 1, n do
        local c = chunks[i]
        min = min + c.min
    end
    local first, last = chunks[1], chunks[n]
    first.anchored = "^" .. first.pat
    last.tail = last.pat .. "$"
    if n == 1 then
        first.whole = "^" .. first.pat .. "$"
    end
    return { n = n, chunks = chunks, min = min }
end

-- True when the whole subject matches (lower-case it first in UA mode).
function _M.match(g, s)
    if #s < g.min then
        return false
    end
    local chunks, n = g.chunks, g.n
    local c = chunks[1]
    if n == 1 then
        if c.plain then
            return s == c.text
        end
        return str_find(s, c.whole) ~= nil
    end
    local pos = 1
    if c.plain then
        if c.len > 0 then
            if not starts(s, c.text, c.len, c.first, c.last) then
                return false
            end
            pos = c.len + 1
        end
    else
        local _, e = str_find(s, c.anchored)
        if not e then
            return false
        end
        pos = e + 1
    end
    for i = 2, n - 1 do
        c = chunks[i]
        if not c.plain or c.len > 0 then
            local _, e = str_find(s, c.plain and c.text or c.pat, pos, c.plain)
            if not e then
                return false
            end
            pos = e + 1
        end
    end
    c = chunks[n]
    if c.plain then
        local at = #s - c.len + 1
        return at >= pos and (c.len == 0 or str_find(s, c.text, at, true) == at)
    end
    return str_find(s, c.tail, pos) ~= nil
end

-- A rule-set path: a prefix on segment boundaries ("/admin" covers /admin,
-- /admin/ and /admin/x, not /administrator; "/static/" covers what starts
-- with it), or with "*" a whole-path wildcard. Returns a matcher table with
-- `literal` (characters other than "*") and `prefix` (true for a prefix) for
-- ordering by specificity.
function _M.path(p)
    local literal = #str_gsub(p, "%*", "")
    if str_find(p, "*", 1, true) then
        return { source = p, literal = literal, prefix = false, glob = _M.compile(p, false) }
    end
    return { source = p, literal = literal, prefix = true, text = p, len = #p,
             first = str_byte(p, 1), last = str_byte(p, -1), dir = str_byte(p, #p) == 47 }
end

function _M.path_match(m, path)
    if m.prefix then
        if not starts(path, m.text, m.len, m.first, m.last) then
            return false
        end
        return #path == m.len or m.dir or str_byte(path, m.len + 1) == 47
    end
    return _M.match(m.glob, path)
end

-- The first matcher of `list` (of _M.path's) that matches path, or nil. The
-- first four without a loop: the access check runs this on every request
-- (security_filter path levels, a policy's blocked paths), and a loop of a
-- few turns there aborts the JIT's trace of the whole check ("inner loop in
-- root trace": a loop that never turns three times gets no trace of its own
-- to link to) until the JIT gives up on it and the check runs interpreted,
-- at several times the cost. A longer list loops over the rest.
function _M.first_path(list, path)
    local n = #list
    if n == 0 then
        return nil
    end
    local path_match = _M.path_match
    local m = list[1]
    if path_match(m, path) then
        return m
    end
    if n == 1 then
        return nil
    end
    m = list[2]
    if path_match(m, path) then
        return m
    end
    if n == 2 then
        return nil
    end
    m = list[3]
    if path_match(m, path) then
        return m
    end
    if n == 3 then
        return nil
    end
    m = list[4]
    if path_match(m, path) then
        return m
    end
    for i = 5, n do
        m = list[i]
        if path_match(m, path) then
            return m
        end
    end
    return nil
end

-- Whether path starts with one of `prefixes` (plain strings). The first two
-- without a loop, for the reason first_path gives: the access check runs this
-- on every request (whitelisted path prefixes).
function _M.first_prefix(prefixes, path)
    local n = #prefixes
    if n == 0 then
        return false
    end
    if str_find(path, prefixes[1], 1, true) == 1 then
        return true
    end
    if n == 1 then
        return false
    end
    if str_find(path, prefixes[2], 1, true) == 1 then
        return true
    end
    for i = 3, n do
        if str_find(path, prefixes[i], 1, true) == 1 then
            return true
        end
    end
    return false
end

-- Most specific first: more literal characters, then a prefix before a
-- wildcard, then the lower source (only to make ties deterministic).
function _M.more_specific(a, b)
    if a.literal ~= b.literal then
        return a.literal > b.literal
    end
    if a.prefix ~= b.prefix then
        return a.prefix
    end
    return a.source < b.source
end

return _M
