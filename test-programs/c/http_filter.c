/* HTTP request filter for edge functions (examples/: Cloudflare Workers, Deno, Node): a block
 * list of client addresses (IPv4 and IPv6 LPM tries), a header-count limit and a per-client
 * token-bucket rate limit (LRU hash, refilled from bpf_ktime_get_ns). The host fills a
 * `struct http_request` per request and answers with the verdict the program returns: 0 passes
 * the request on, anything else is the HTTP status to answer with.
 *
 * The program is SEC("syscall"), the kernel's program type whose context is whatever struct the
 * caller passes (BPF_PROG_TEST_RUN's ctx_in).
 *
 * The test should check:
 *  - maps block_v4 (LPM_TRIE, key struct lpm_v4 8 bytes, value __u64 hit count, max 1024,
 *    BPF_F_NO_PREALLOC), block_v6 (LPM_TRIE, key struct lpm_v6 20 bytes), rate (LRU_HASH, key
 *    struct client_key 20 bytes, value struct bucket 32 bytes, max 4096), stats (ARRAY of 4
 *    __u64 indexed by enum stat);
 *  - program http_filter in section "syscall"; .rodata rate_per_sec 10, burst 20, max_headers 64;
 *  - a client in a blocked prefix gets VERDICT_BLOCK (403) and the prefix's count goes up; the
 *    longest prefix wins; IPv6 the same against block_v6;
 *  - more than max_headers headers gets VERDICT_TOO_MANY_HEADERS (431);
 *  - with burst B a client gets B passes (0), then VERDICT_LIMIT (429); another client is not
 *    affected; the bucket refills at rate_per_sec (ktime); its allowed/limited counters count;
 *  - stats counts each verdict; a bad family is VERDICT_BAD_REQUEST (400).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum http_method { HTTP_OTHER = 0, HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_PUT, HTTP_DELETE, HTTP_PATCH, HTTP_OPTIONS };

enum verdict {
  VERDICT_PASS = 0,
  VERDICT_BAD_REQUEST = 400,
  VERDICT_BLOCK = 403,
  VERDICT_LIMIT = 429,
  VERDICT_TOO_MANY_HEADERS = 431,
};

enum stat { STAT_PASS = 0, STAT_BLOCK, STAT_LIMIT, STAT_OTHER, STAT_COUNT };

/* What the host tells the program about one request (88 bytes, filled by examples/http-filter). */
struct http_request {
  __u8 family;          /* 4 or 6 */
  __u8 method;          /* enum http_method */
  __u16 header_count;
  __u32 path_len;       /* the whole path's length in bytes (path holds at most 64) */
  __u8 addr[16];        /* client address, network byte order; IPv4 in addr[0..3] */
  char path[64];        /* the path's first 64 bytes, NUL-padded */
};

struct lpm_v4 {
  __u32 prefixlen;
  __u8 addr[4];
};

struct lpm_v6 {
  __u32 prefixlen;
  __u8 addr[16];
};

struct client_key {
  __u8 family;
  __u8 pad[3];
  __u8 addr[16];
};

/* A token bucket in thousandths of a token. */
struct bucket {
  __u64 tokens_milli;
  __u64 last_ns;
  __u64 allowed;
  __u64 limited;
};

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __type(key, struct lpm_v4);
  __type(value, __u64);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, 1024);
} block_v4 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __type(key, struct lpm_v6);
  __type(value, __u64);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, 1024);
} block_v6 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __type(key, struct client_key);
  __type(value, struct bucket);
  __uint(max_entries, 4096);
} rate SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __type(key, __u32);
  __type(value, __u64);
  __uint(max_entries, STAT_COUNT);
} stats SEC(".maps");

/* Configuration, set by the host before the first run (libbpf's rodata pattern). Refill is
 * computed from at most 1000 s of elapsed time (rate_per_sec <= 1,000,000); a bucket idle longer
 * than that is full. */
const volatile __u64 rate_per_sec = 10;
const volatile __u64 burst = 20;
const volatile __u32 max_headers = 64;

static __always_inline int count(__u32 which, int verdict) {
  __u64 *n = bpf_map_lookup_elem(&stats, &which);
  if (n) __sync_fetch_and_add(n, 1);
  return verdict;
}

static __always_inline int blocked(struct http_request *req) {
  __u64 *hits;
  if (req->family == 4) {
    struct lpm_v4 k = { .prefixlen = 32 };
    __builtin_memcpy(k.addr, req->addr, 4);
    hits = bpf_map_lookup_elem(&block_v4, &k);
  } else {
    struct lpm_v6 k = { .prefixlen = 128 };
    __builtin_memcpy(k.addr, req->addr, 16);
    hits = bpf_map_lookup_elem(&block_v6, &k);
  }
  if (!hits) return 0;
  __sync_fetch_and_add(hits, 1);
  return 1;
}

/* Takes one token from the client's bucket; 0 when it is empty. */
static __always_inline int take_token(struct http_request *req) {
  struct client_key key = { .family = req->family };
  __builtin_memcpy(key.addr, req->addr, 16);
  __u64 now = bpf_ktime_get_ns();
  __u64 cap = burst * 1000;
  struct bucket *b = bpf_map_lookup_elem(&rate, &key);
  if (!b) {
    struct bucket fresh = { .tokens_milli = cap, .last_ns = now };
    bpf_map_update_elem(&rate, &key, &fresh, BPF_ANY);
    b = bpf_map_lookup_elem(&rate, &key);
    if (!b) return 1;
  }
  __u64 elapsed = now > b->last_ns ? now - b->last_ns : 0;
  __u64 tokens = b->tokens_milli;
  if (elapsed > 1000000000000ULL) {
    tokens = cap;
  } else {
    tokens += elapsed * rate_per_sec / 1000000;
    if (tokens > cap) tokens = cap;
  }
  b->last_ns = now;
  if (tokens < 1000) {
    b->tokens_milli = tokens;
    b->limited++;
    return 0;
  }
  b->tokens_milli = tokens - 1000;
  b->allowed++;
  return 1;
}

SEC("syscall")
int http_filter(struct http_request *req) {
  if (req->family != 4 && req->family != 6) return count(STAT_OTHER, VERDICT_BAD_REQUEST);
  if (blocked(req)) return count(STAT_BLOCK, VERDICT_BLOCK);
  if (req->header_count > max_headers) return count(STAT_OTHER, VERDICT_TOO_MANY_HEADERS);
  if (!take_token(req)) return count(STAT_LIMIT, VERDICT_LIMIT);
  return count(STAT_PASS, VERDICT_PASS);
}

char LICENSE[] SEC("license") = "GPL";
