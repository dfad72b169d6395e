/* bpf_skb_change_type, bpf_skb_set_tstamp and bpf_skb_cgroup_classid as a probe: the request
 * (`struct req`) follows the frame's first 34 bytes (Ethernet and a 20-byte IPv4 header, or
 * anything else of that length), the answer (`struct ans`) follows the request: the helper's
 * result, then __sk_buff's tstamp, tstamp_type and pkt_type as the program sees them after it.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct req {
  __u32 op; /* 0 bpf_skb_change_type(a), 1 bpf_skb_set_tstamp(b, a), 2 bpf_skb_cgroup_classid */
  __u32 a;
  __u64 b;
};

struct ans {
  __s64 rc;
  __u64 tstamp;
  __u32 tstamp_type, pkt_type;
};

SEC("tc")
int tc_misc(struct __sk_buff *skb) {
  struct req r;
  struct ans a = {};
  if (bpf_skb_load_bytes(skb, 34, &r, sizeof(r))) return TC_ACT_SHOT;
  if (r.op == 0) a.rc = bpf_skb_change_type(skb, r.a);
  else if (r.op == 1) a.rc = bpf_skb_set_tstamp(skb, r.b, r.a);
  else a.rc = bpf_skb_cgroup_classid(skb);
  a.tstamp = skb->tstamp;
  a.tstamp_type = skb->tstamp_type;
  a.pkt_type = skb->pkt_type;
  bpf_skb_store_bytes(skb, 34 + sizeof(r), &a, sizeof(a), 0);
  return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
