// ASCII-only case folding, as the rule model defines it: Lua's string.lower
// and string.upper fold A-Z and nothing else, and both engines must agree
// byte for byte (JavaScript's toLowerCase would also fold "É" and "İ").

/** ASCII-only lower case. */
export function asciiLower(s: string): string {
  if (!/[A-Z]/.test(s)) return s;
  return /[\u0080-\uffff]/.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s.toLowerCase();
}

/** A two-character country code upper-cased ASCII-only (JS would turn "ı" into "I"; Lua would not). */
export function asciiUpper2(cc: string): string {
  const a = cc.charCodeAt(0);
  const b = cc.charCodeAt(1);
  if ((a < 97 || a > 122) && (b < 97 || b > 122)) return cc;
  return String.fromCharCode(a >= 97 && a <= 122 ? a - 32 : a, b >= 97 && b <= 122 ? b - 32 : b);
}
