/* The string hashes of Keras's Hashing layer for a batch of strings: FarmHash Fingerprint64 (farmhashna::Hash64,
 * TensorFlow's to_hash_bucket_fast) and SipHash-2-4 under a 128-bit key (to_hash_bucket_strong, Hashing's salt).
 *
 * The strings arrive concatenated in `data`, string i being data[off[i] .. off[i+1]); out[i] gets its hash.
 * gpunet/common/hashing.py is the reference each function follows line by line; tests/test_text_layers.py
 * checks both against it (and against TensorFlow's published values) at every length class, 0 to 300 bytes.
 * Little-endian loads through memcpy: no alignment is assumed. */
#include <stdint.h>
#include <string.h>

static const uint64_t K0 = 0xc3a5c85c97cb3127ULL, K1 = 0xb492b66fbe98f273ULL, K2 = 0x9ae16a3b2f90404fULL;

static inline uint64_t f64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t f32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t rot(uint64_t v, int s) { return s ? (v >> s) | (v << (64 - s)) : v; }
static inline uint64_t mix(uint64_t v) { return v ^ (v >> 47); }

static inline uint64_t len16(uint64_t u, uint64_t v, uint64_t mul) {
    uint64_t a = (u ^ v) * mul;
    a ^= a >> 47;
    uint64_t b = (v ^ a) * mul;
    b ^= b >> 47;
    return b * mul;
}

static uint64_t len0to16(const uint8_t *s, uint64_t n) {
    if (n >= 8) {
        uint64_t mul = K2 + n * 2, a = f64(s) + K2, b = f64(s + n - 8);
        uint64_t c = rot(b, 37) * mul + a, d = (rot(a, 25) + b) * mul;
        return len16(c, d, mul);
    }
    if (n >= 4) {
        uint64_t mul = K2 + n * 2, a = f32(s);
        return len16(n + (a << 3), f32(s + n - 4), mul);
    }
    if (n > 0) {
        uint8_t a = s[0], b = s[n >> 1], c = s[n - 1];
        uint32_t y = (uint32_t)a + ((uint32_t)b << 8), z = (uint32_t)n + ((uint32_t)c << 2);
        return mix(y * K2 ^ z * K0) * K2;
    }
    return K2;
}

static uint64_t len17to32(const uint8_t *s, uint64_t n) {
    uint64_t mul = K2 + n * 2, a = f64(s) * K1, b = f64(s + 8), c = f64(s + n - 8) * mul, d = f64(s + n - 16) * K2;
    return len16(rot(a + b, 43) + rot(c, 30) + d, a + rot(b + K2, 18) + c, mul);
}

static uint64_t len33to64(const uint8_t *s, uint64_t n) {
    uint64_t mul = K2 + n * 2, a = f64(s) * K2, b = f64(s + 8), c = f64(s + n - 8) * mul, d = f64(s + n - 16) * K2;
    uint64_t y = rot(a + b, 43) + rot(c, 30) + d;
    uint64_t z = len16(y, a + rot(b + K2, 18) + c, mul);
    uint64_t e = f64(s + 16) * mul, f = f64(s + 24), g = (y + f64(s + n - 32)) * mul, h = (z + f64(s + n - 24)) * mul;
    return len16(rot(e + f, 43) + rot(g, 30) + h, e + rot(f + a, 18) + g, mul);
}

static inline void weak32(const uint8_t *s, uint64_t a, uint64_t b, uint64_t out[2]) {
    uint64_t w = f64(s), x = f64(s + 8), y = f64(s + 16), z = f64(s + 24);
    a += w;
    b = rot(b + a + z, 21);
    uint64_t c = a;
    a += x + y;
    b += rot(a, 44);
    out[0] = a + z;
    out[1] = b + c;
}

static uint64_t fingerprint64(const uint8_t *s, uint64_t n) {
    if (n <= 16) return len0to16(s, n);
    if (n <= 32) return len17to32(s, n);
    if (n <= 64) return len33to64(s, n);
    const uint64_t seed = 81;
    uint64_t x = seed, y = seed * K1 + 113, z = mix(y * K2 + 113) * K2, v[2] = {0, 0}, w[2] = {0, 0}, t;
    x = x * K2 + f64(s);
    const uint64_t end = ((n - 1) / 64) * 64, last64 = end + ((n - 1) & 63) - 63;
    uint64_t i = 0;
    do {
        x = rot(x + y + v[0] + f64(s + i + 8), 37) * K1;
        y = rot(y + v[1] + f64(s + i + 48), 42) * K1;
        x ^= w[1];
        y += v[0] + f64(s + i + 40);
        z = rot(z + w[0], 33) * K1;
        weak32(s + i, v[1] * K1, x + w[0], v);
        weak32(s + i + 32, z + w[1], y + f64(s + i + 16), w);
        t = z; z = x; x = t;
        i += 64;
    } while (i != end);
    uint64_t mul = K1 + ((z & 0xff) << 1);
    i = last64;
    w[0] += (n - 1) & 63;
    v[0] += w[0];
    w[0] += v[0];
    x = rot(x + y + v[0] + f64(s + i + 8), 37) * mul;
    y = rot(y + v[1] + f64(s + i + 48), 42) * mul;
    x ^= w[1] * 9;
    y += v[0] * 9 + f64(s + i + 40);
    z = rot(z + w[0], 33) * mul;
    weak32(s + i, v[1] * mul, x + w[0], v);
    weak32(s + i + 32, z + w[1], y + f64(s + i + 16), w);
    t = z; z = x; x = t;
    return len16(len16(v[0], w[0], mul) + mix(y) * K0 + z, len16(v[1], w[1], mul) + x, mul);
}

static inline uint64_t rotl(uint64_t v, int s) { return (v << s) | (v >> (64 - s)); }

#define SIPROUND do { \
    v0 += v1; v1 = rotl(v1, 13) ^ v0; v0 = rotl(v0, 32); \
    v2 += v3; v3 = rotl(v3, 16) ^ v2; \
    v0 += v3; v3 = rotl(v3, 21) ^ v0; \
    v2 += v1; v1 = rotl(v1, 17) ^ v2; v2 = rotl(v2, 32); } while (0)

static uint64_t siphash24(const uint8_t *s, uint64_t n, uint64_t k0, uint64_t k1) {
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
    uint64_t full = n - n % 8, m;
    for (uint64_t i = 0; i < full; i += 8) {
        m = f64(s + i);
        v3 ^= m; SIPROUND; SIPROUND; v0 ^= m;
    }
    uint8_t tail[8] = {0};
    memcpy(tail, s + full, n % 8);
    tail[7] = (uint8_t)(n & 0xff);
    m = f64(tail);
    v3 ^= m; SIPROUND; SIPROUND; v0 ^= m;
    v2 ^= 0xff;
    SIPROUND; SIPROUND; SIPROUND; SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

void fingerprint64_batch(const uint8_t *data, const int64_t *off, long long n, uint64_t *out) {
    for (long long i = 0; i < n; i++) out[i] = fingerprint64(data + off[i], (uint64_t)(off[i + 1] - off[i]));
}

void siphash24_batch(const uint8_t *data, const int64_t *off, long long n, uint64_t k0, uint64_t k1,
                     uint64_t *out) {
    for (long long i = 0; i < n; i++) out[i] = siphash24(data + off[i], (uint64_t)(off[i + 1] - off[i]), k0, k1);
}
