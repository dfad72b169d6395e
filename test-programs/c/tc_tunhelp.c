/* bpf_redirect_peer, bpf_clone_redirect and the tunnel metadata helpers as a probe: the request
 * (`struct req`) follows the frame's first 34 bytes (Ethernet and a 20-byte IPv4 header), the
 * answer (`struct ans`) follows the request: the helpers' results, then the buffers they filled.
 * After each probe the program writes 0xee over the IPv4 header's last byte (so a clone shows the
 * bytes it was made of, and dataOut the bytes after it).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct req {
  __u32 op;
  __u32 a;
  __u64 b;
};

struct ans {
  __s64 rc1, rc2, rc3;
  struct bpf_tunnel_key key;
  __u8 opt[16];
};

static __always_inline long get_key(struct __sk_buff *skb, struct bpf_tunnel_key *k, __u32 size, __u64 flags) {
  if (size == 0) return bpf_skb_get_tunnel_key(skb, k, sizeof(*k), flags);
  if (size == 1) return bpf_skb_get_tunnel_key(skb, k, 28, flags);
  if (size == 2) return bpf_skb_get_tunnel_key(skb, k, 8, flags);
  return bpf_skb_get_tunnel_key(skb, k, 12, flags);
}

static __always_inline long set_key(struct __sk_buff *skb, __u64 flags, __u32 label) {
  struct bpf_tunnel_key k = {};
  k.tunnel_id = 0x11223344;
  k.tunnel_tos = 5;
  k.tunnel_ttl = 64;
  k.tunnel_label = label;
  if (flags & BPF_F_TUNINFO_IPV6) {
    k.remote_ipv6[0] = 0x000080fe; k.remote_ipv6[3] = 0x01000000;
    k.local_ipv6[0] = 0x000080fe; k.local_ipv6[3] = 0x02000000;
  } else {
    k.remote_ipv4 = 0x0a000001;
    k.local_ipv4 = 0x0a000002;
  }
  return bpf_skb_set_tunnel_key(skb, &k, sizeof(k), flags);
}

SEC("tc")
int tc_tunhelp(struct __sk_buff *skb) {
  struct req r;
  struct ans a = {};
  __u8 opt[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  __u8 mark = 0xee;
  long ret = TC_ACT_OK;
  if (bpf_skb_load_bytes(skb, 34, &r, sizeof(r))) return TC_ACT_SHOT;
  switch (r.op) {
  case 0: /* bpf_redirect_peer(a, b): the program returns its value */
    ret = bpf_redirect_peer(r.a, r.b);
    a.rc1 = ret;
    break;
  case 1: /* bpf_clone_redirect(a, b) */
    a.rc1 = bpf_clone_redirect(skb, r.a, r.b);
    break;
  case 2: /* bpf_skb_get_tunnel_key without metadata (size choice a, flags b) */
    a.rc1 = get_key(skb, &a.key, r.a, r.b);
    break;
  case 3: /* set_tunnel_key(flags b, label 7 when a & 2), then get_tunnel_key (size choice a & 1 ? 28 : 44, flags a >> 8) */
    a.rc1 = set_key(skb, r.b, r.a & 2 ? 7 : 0);
    a.rc2 = get_key(skb, &a.key, r.a & 1, r.a >> 8);
    break;
  case 4: /* get_tunnel_opt without metadata, then set_tunnel_opt without a key */
    a.rc1 = bpf_skb_get_tunnel_opt(skb, a.opt, sizeof(a.opt));
    a.rc2 = bpf_skb_set_tunnel_opt(skb, opt, 8);
    break;
  case 5: /* set_tunnel_key(flags b), set_tunnel_opt(size 12, 8, 6 or 4 by a), get_tunnel_opt, get_tunnel_key (TUNINFO_FLAGS) */
    a.rc1 = set_key(skb, r.b, 0);
    if (r.a == 0) a.rc2 = bpf_skb_set_tunnel_opt(skb, opt, 12);
    else if (r.a == 1) a.rc2 = bpf_skb_set_tunnel_opt(skb, opt, 8);
    else if (r.a == 2) a.rc2 = bpf_skb_set_tunnel_opt(skb, opt, 6);
    else a.rc2 = bpf_skb_set_tunnel_opt(skb, opt, 4);
    a.rc3 = bpf_skb_get_tunnel_opt(skb, a.opt, sizeof(a.opt));
    get_key(skb, &a.key, 0, (r.b & BPF_F_TUNINFO_IPV6) | BPF_F_TUNINFO_FLAGS);
    break;
  case 6: /* set_tunnel_key, then get_tunnel_opt into a short buffer */
    a.rc1 = set_key(skb, 0, 0);
    a.rc2 = bpf_skb_set_tunnel_opt(skb, opt, 12);
    a.rc3 = bpf_skb_get_tunnel_opt(skb, a.opt, 8);
    break;
  }
  bpf_skb_store_bytes(skb, 34 + sizeof(r), &a, sizeof(a), 0);
  bpf_skb_store_bytes(skb, 33, &mark, 1, 0);
  return ret;
}

char _license[] SEC("license") = "GPL";
