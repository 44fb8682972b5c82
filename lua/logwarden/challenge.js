/* global document, navigator, location */
(function () {
  var el = document.getElementById("lw-challenge");
  var token = el.getAttribute("data-token"), bits = +el.getAttribute("data-bits");
  function rol(x, n) { return (x << n) | (x >>> (32 - n)); }
  function sha1(s) {
    var l = s.length, nb = ((l + 8) >> 6) + 1, m = [], w = [], i, j;
    for (i = 0; i < nb * 16; i++) m[i] = 0;
    for (i = 0; i < l; i++) m[i >> 2] |= s.charCodeAt(i) << (24 - (i & 3) * 8);
    m[l >> 2] |= 0x80 << (24 - (l & 3) * 8);
    m[nb * 16 - 1] = l * 8;
    var h0 = 0x67452301, h1 = 0xefcdab89, h2 = 0x98badcfe, h3 = 0x10325476, h4 = 0xc3d2e1f0;
    for (i = 0; i < m.length; i += 16) {
      var a = h0, b = h1, c = h2, d = h3, e = h4;
      for (j = 0; j < 80; j++) {
        w[j] = j < 16 ? m[i + j] : rol(w[j - 3] ^ w[j - 8] ^ w[j - 14] ^ w[j - 16], 1);
        var f = j < 20 ? (b & c) | (~b & d) : j < 40 ? b ^ c ^ d : j < 60 ? (b & c) | (b & d) | (c & d) : b ^ c ^ d;
        var k = j < 20 ? 0x5a827999 : j < 40 ? 0x6ed9eba1 : j < 60 ? 0x8f1bbcdc : 0xca62c1d6;
        var t = (rol(a, 5) + f + e + k + w[j]) | 0;
        e = d; d = c; c = rol(b, 30); b = a; a = t;
      }
      h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0; h4 = (h4 + e) | 0;
    }
    return [h0, h1, h2, h3, h4];
  }
  function zeros(h) {
    for (var i = 0, n = 0; i < 5; i++) {
      if (h[i] !== 0) return n + Math.clz32(h[i]);
      n += 32;
    }
    return n;
  }
  if (!navigator.cookieEnabled) {
    el.textContent = "This site needs cookies to let your browser in.";
    return;
  }
  for (var n = 0; ; n++) {
    if (zeros(sha1(token + "." + n)) >= bits) break;
  }
  document.cookie = "lw_proof=" + token + "." + n + "; path=/; max-age=300; samesite=lax" + (location.protocol === "https:" ? "; secure" : "");
  location.reload();
})();
