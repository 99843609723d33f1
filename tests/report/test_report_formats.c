/*
 * tests/report/test_report_formats.c - the report kinds and rules syzkaller titles (one
 * hand-written console per rule, in the kernel's own formats), ALT titles, title
 * matching (kb_report_title_matches, kb_report_title_relation), and the streaming
 * parser (chunking, bounded window, equal to kb_report_parse).
 * kb-test-labels: unit
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kbisect/common.h"
#include "kbisect/error.h"
#include "kbisect/report.h"
#include "kb_test.h"

struct fcase {
	const char *name;
	const char *console;
	const char *title; /* NULL: no crash */
	int corrupted;
	const char *alt;   /* one ALT title that must be there, or NULL */
};

#define T "[  101.203040][ T5012] "
#define C "[  101.203040][    C1] "

static const struct fcase cases[] = {
	/* 1. a 4.x WARNING with panic_on_warn: the frames after the RIP line are the trace */
	{ "rip-then-frames",
	  "[   52.100000] WARNING: CPU: 0 PID: 4242 at net/core/dev.c:5123 dev_queue_xmit+0x1a/0x40\n"
	  "[   52.100001] Kernel panic - not syncing: panic_on_warn set ...\n"
	  "[   52.100002] CPU: 0 PID: 4242 Comm: syz-executor3 Not tainted 4.14.0+ #1\n"
	  "[   52.100003] Call Trace:\n"
	  "[   52.100004]  dump_stack+0x194/0x257\n"
	  "[   52.100005]  panic+0x1e4/0x41c\n"
	  "[   52.100006]  __warn+0x1c4/0x1e0\n"
	  "[   52.100007]  report_bug+0x211/0x2d0\n"
	  "[   52.100008]  fixup_bug.part.11+0x37/0x80\n"
	  "[   52.100009]  do_error_trap+0x2d7/0x3e0\n"
	  "[   52.100010]  invalid_op+0x18/0x20\n"
	  "[   52.100011] RIP: 0010:dev_queue_xmit+0x1a/0x40\n"
	  "[   52.100012] RSP: 0018:ffff8801c7a2f6a8 EFLAGS: 00010282\n"
	  "[   52.100013]  packet_snd+0x9a1/0x1230\n"
	  "[   52.100014]  packet_sendmsg+0x1246/0x6100\n"
	  "[   52.100015]  sock_sendmsg+0xca/0x110\n"
	  "[   52.100016]  SYSC_sendto+0x361/0x5c0\n"
	  "[   52.100017]  entry_SYSCALL_64_fastpath+0x1f/0x96\n",
	  "WARNING in dev_queue_xmit", 0, NULL },
	/* 2. helper frames are skipped; syscall prefixes are stripped */
	{ "skip-folio-unlock",
	  T "BUG: unable to handle page fault for address: ffffc90000a1e000\n"
	  T "#PF: supervisor read access in kernel mode\n"
	  T "Oops: 0000 [#1] PREEMPT SMP KASAN\n"
	  T "RIP: 0010:folio_unlock+0x2a/0x80\n"
	  T "Call Trace:\n"
	  T " <TASK>\n"
	  T " ida_free+0x12/0x40\n"
	  T " ext4_put_io_end+0x1c/0x90\n"
	  T " __x64_sys_fsync+0x3e/0x50\n"
	  T " do_syscall_64+0x3b/0xb0\n",
	  "BUG: unable to handle kernel paging request in ext4_put_io_end", 0,
	  "bad-access in ext4_put_io_end" },
	/* 3. lockdep kinds */
	{ "irq-safe-unsafe",
	  T "=====================================================\n"
	  T "WARNING: HARDIRQ-safe -> HARDIRQ-unsafe lock order detected\n"
	  T "6.1.0-syzkaller #0 Not tainted\n"
	  T "syz-executor.1/5012 [HC0[0]:SC0[0]:HE0:SE1] is trying to acquire:\n"
	  T "ffff888021d3a0b8 (&f->lock){+.+.}-{2:2}, at: fasync_remove_entry+0x5b/0x1a0\n"
	  T "and this task is already holding:\n"
	  T "which would create a new lock dependency:\n"
	  T "but this new dependency connects a HARDIRQ-irq-safe lock:\n"
	  T "... which became HARDIRQ-irq-safe at:\n"
	  T "  lock_acquire+0x1a4/0x4b0\n"
	  T "  _raw_spin_lock_irqsave+0x3d/0x60\n"
	  T "  kill_fasync+0x14b/0x460\n"
	  T "  evdev_pass_values+0x5a1/0x8b0\n"
	  T "Call Trace:\n"
	  T " dump_stack_lvl+0xd9/0x150\n"
	  T " fasync_remove_entry+0x5b/0x1a0\n",
	  "possible deadlock in kill_fasync", 0, NULL },
	{ "bad-unlock-balance",
	  T "=====================================\n"
	  T "WARNING: bad unlock balance detected!\n"
	  T "syz-executor.0/5012 is trying to release lock (&mm->mmap_lock) at:\n"
	  T "[<ffffffff81b6d9b1>] btrfs_tree_unlock+0x11/0x30\n"
	  T "but there are no more locks to release!\n"
	  T "Call Trace:\n"
	  T " <TASK>\n"
	  T " dump_stack_lvl+0x125/0x1b0\n"
	  T " lock_release+0x3b2/0x6f0\n"
	  T " up_read+0x1a/0x50\n"
	  T " userfaultfd_ioctl+0x3f2/0x4a20\n",
	  "WARNING: bad unlock balance in btrfs_tree_unlock", 0, NULL },
	{ "held-lock-freed",
	  T "=========================\n"
	  T "WARNING: held lock freed!\n"
	  T "6.8.0-syzkaller #0 Not tainted\n"
	  T "-------------------------\n"
	  T "syz-executor.4/5012 is freeing memory ffff88802a4e0000-ffff88802a4e07ff, with a lock still held there!\n"
	  T "ffff88802a4e0130 (sk_lock-AF_INET6){+.+.}-{0:0}, at: sctp_sendmsg+0x134/0x2a00\n"
	  T "2 locks held by syz-executor.4/5012:\n"
	  T "stack backtrace:\n"
	  T "Call Trace:\n"
	  T " dump_stack_lvl+0x125/0x1b0\n"
	  T " kmem_cache_free+0x12e/0x380\n",
	  "WARNING: held lock freed in sctp_sendmsg", 0, NULL },
	{ "lock-held-returning",
	  T "================================================\n"
	  T "WARNING: lock held when returning to user space!\n"
	  T "6.9.0-syzkaller #0 Not tainted\n"
	  T "------------------------------------------------\n"
	  T "syz-executor.2/5012 is leaving the kernel with locks still held!\n"
	  T "1 lock held by syz-executor.2/5012:\n"
	  T " #0: ffff8880223e8a30 (&pipe->mutex){+.+.}-{3:3}, at: watch_queue_set_size+0x9d/0x4c0\n",
	  "WARNING: lock held when returning to user space in watch_queue_set_size", 0, NULL },
	/* 4. header variants with their own title */
	{ "smp-processor-id",
	  T "BUG: using smp_processor_id() in preemptible [00000000] code: syz-executor.3/5012\n"
	  T "caller is tcp_v4_connect+0x7a/0x1b80\n"
	  T "CPU: 1 PID: 5012 Comm: syz-executor.3 Not tainted 6.2.0-syzkaller #0\n"
	  T "Call Trace:\n"
	  T " <TASK>\n"
	  T " dump_stack_lvl+0xd1/0x138\n"
	  T " check_preemption_disabled+0x13e/0x160\n"
	  T " tcp_v4_connect+0x7a/0x1b80\n"
	  T " __inet_stream_connect+0x3b9/0xf00\n",
	  "BUG: using smp_processor_id() in preemptible code in tcp_v4_connect", 0, NULL },
	{ "dentry-still-in-use",
	  T "BUG: Dentry ffff88801e3a6c30{i=1,n=/}  still in use (1) [unmount of tmpfs tmpfs]\n"
	  T "WARNING: CPU: 0 PID: 5012 at fs/dcache.c:1667 umount_check+0x18e/0x200\n"
	  T "RIP: 0010:umount_check+0x18e/0x200\n"
	  T "Call Trace:\n"
	  T " d_walk+0x210/0x720\n"
	  T " shrink_dcache_for_umount+0x95/0x350\n",
	  "BUG: Dentry still in use in unmount", 0, "BUG: Dentry still in use [unmount of tmpfs tmpfs]" },
	{ "stack-guard-page",
	  T "BUG: TASK stack guard page was hit at ffffc90003ef7f88 (stack is ffffc90003ef8000..ffffc90003f00000)\n"
	  T "stack guard page: 0000 [#1] PREEMPT SMP KASAN\n"
	  T "RIP: 0010:mark_lock+0x1c/0x1a0\n"
	  T "Call Trace:\n"
	  T " __lock_acquire+0x1294/0x5d40\n"
	  T " nf_hook_slow+0xc5/0x1f0\n"
	  T " ip_local_out+0xaf/0x1a0\n"
	  T " tcp_transmit_skb+0x1a4/0x3a0\n"
	  T " __tcp_push_pending_frames+0x3a/0x2f0\n"
	  T " tcp_sendmsg_locked+0x2b5f/0x3a20\n"
	  T " tcp_sendmsg+0x2b/0x40\n"
	  T " sock_sendmsg+0xde/0x190\n",
	  "BUG: stack guard page was hit in tcp_sendmsg", 0, "stack-overflow in tcp_sendmsg" },
	{ "zero-size-vmalloc",
	  T "------------[ cut here ]------------\n"
	  T "WARNING: CPU: 0 PID: 5012 at mm/vmalloc.c:3093 __vmalloc_node_range+0xef1/0x1450\n"
	  T "Modules linked in:\n"
	  T "RIP: 0010:__vmalloc_node_range+0xef1/0x1450\n"
	  T "Call Trace:\n"
	  T " <TASK>\n"
	  T " __vmalloc_node+0xb5/0x100\n"
	  T " bpf_map_area_alloc+0x14e/0x1d0\n"
	  T " array_map_alloc+0x3a5/0x780\n",
	  "WARNING: zero-size vmalloc in bpf_map_area_alloc", 0, NULL },
	/* 5. stalls: the frames after the timer interrupt, not those of the interrupt */
	{ "rcu-stall",
	  C "rcu: INFO: rcu_preempt self-detected stall on CPU\n"
	  C "rcu: \t1-....: (10500 ticks this GP) idle=d3c/1/0x4000000000000000\n"
	  C "NMI backtrace for cpu 1\n"
	  C "Call Trace:\n"
	  C " <IRQ>\n"
	  C " dump_stack_lvl+0xd1/0x138\n"
	  C " rcu_dump_cpu_stacks+0x1e0/0x2c0\n"
	  C " update_process_times+0x11a/0x1a0\n"
	  C " tick_sched_timer+0xee/0x110\n"
	  C " __hrtimer_run_queues+0x1c0/0xb70\n"
	  C " hrtimer_interrupt+0x317/0x7b0\n"
	  C " __sysvec_apic_timer_interrupt+0x17c/0x640\n"
	  C " sysvec_apic_timer_interrupt+0x8e/0xc0\n"
	  C " </IRQ>\n"
	  C " <TASK>\n"
	  C " asm_sysvec_apic_timer_interrupt+0x1a/0x20\n"
	  C "RIP: 0010:hash_net4_test+0x2c1/0x510\n"
	  C " ip_set_test+0x1f5/0x3b0\n"
	  C " set_match_v4+0x23a/0x2f0\n"
	  C " ipt_do_table+0xd6a/0x1a40\n"
	  C " nf_hook_slow+0xc5/0x1f0\n"
	  C " __ip_local_out+0x40f/0x7b0\n"
	  C " ip_send_skb+0x3e/0xe0\n"
	  C " udp_send_skb+0x73a/0x1450\n"
	  C " udp_sendmsg+0x1bb2/0x2840\n"
	  C " sock_sendmsg+0xde/0x190\n"
	  C " __sys_sendto+0x21a/0x320\n",
	  "INFO: rcu detected stall in udp_sendmsg", 0, "stall in udp_sendmsg" },
	/* 6. a fault-injection stack mixed into the report: corrupted */
	{ "should-fail",
	  T "BUG: kernel NULL pointer dereference, address: 0000000000000008\n"
	  T "RIP: 0010:nfc_llcp_sock_link+0x22/0x70\n"
	  T "Call Trace:\n"
	  T " should_fail+0x4a/0x5a0\n"
	  T " nfc_llcp_sock_link+0x22/0x70\n"
	  T " llcp_sock_bind+0x4a1/0x6a0\n",
	  "BUG: unable to handle kernel NULL pointer dereference in nfc_llcp_sock_link", 1, NULL },
	/* 7. arm64 / x86 oops headers */
	{ "arm64-internal-error",
	  "[  300.100000][ T5012] Internal error: synchronous external abort: 0000000096000010 [#1] PREEMPT SMP\n"
	  "[  300.100001][ T5012] pc : geni_se_rx_dma_prep+0x48/0xa0\n"
	  "[  300.100002][ T5012] lr : qcom_smem_get+0x80/0x1c0\n"
	  "[  300.100003][ T5012] Call trace:\n"
	  "[  300.100004][ T5012]  geni_se_rx_dma_prep+0x48/0xa0\n"
	  "[  300.100005][ T5012]  qcom_smem_get+0x80/0x1c0\n",
	  "Internal error in geni_se_rx_dma_prep", 0, "bad-access in geni_se_rx_dma_prep" },
	{ "int3",
	  C "Oops: int3: 0000 [#1] PREEMPT SMP KASAN NOPTI\n"
	  C "RIP: 0010:kmem_cache_alloc_noprof+0x50/0x300\n"
	  C "Call Trace:\n"
	  C " <TASK>\n"
	  C " alloc_pid+0x6b/0xc50\n"
	  C " copy_process+0x2a4f/0x7380\n",
	  "int3 in alloc_pid", 0, NULL },
	{ "arm64-user-memory",
	  "[  210.500000][ T5012] Unable to handle kernel access to user memory outside uaccess routines at virtual address 0000000020000300\n"
	  "[  210.500001][ T5012] Mem abort info:\n"
	  "[  210.500002][ T5012] pc : do_vcpu_ioctl+0x1a8/0x650\n"
	  "[  210.500003][ T5012] Call trace:\n"
	  "[  210.500004][ T5012]  do_vcpu_ioctl+0x1a8/0x650\n"
	  "[  210.500005][ T5012]  __arm64_sys_ioctl+0x14c/0x1c8\n",
	  "BUG: unable to handle kernel access to user memory in do_vcpu_ioctl", 0,
	  "bad-access in do_vcpu_ioctl" },
	/* 8. lines that are no crash */
	{ "no-crash-notices",
	  "[    0.500000] WARNING: kernel not compiled with CPU_SRSO.\n"
	  "[    3.100000] warning: process `syz-executor' used the deprecated sysctl system call\n"
	  "[   12.000000] WARNING: syz-executor.0 uses wireless extensions which will stop working for Wi-Fi 7 hardware; use nl80211\n"
	  "[   13.000000] traps: syz-executor.0[5012] general protection fault ip:7f1 sp:7ff error:0 in libc.so.6[7f0+100]\n"
	  "[   14.000000] EXT4-fs (loop0): WARNING: journal checksum enabled, mount option ignored\n",
	  NULL, 0, NULL },
	/* 9. lockdep: the first "at:" names a skipped frame, the second one counts */
	{ "deadlock-second-at",
	  T "======================================================\n"
	  T "WARNING: possible circular locking dependency detected\n"
	  T "6.5.0-syzkaller #0 Not tainted\n"
	  T "------------------------------------------------------\n"
	  T "kworker/0:3/5012 is trying to acquire lock:\n"
	  T "ffff88802a1f0d38 ((wq_completion)events){+.+.}-{0:0}, at: process_one_work+0x7c2/0x1560\n"
	  T "\n"
	  T "but task is already holding lock:\n"
	  T "ffffc9000310fd80 (&data->fib_event_work){+.+.}-{0:0}, at: nsim_fib_event_work+0x24/0x310\n"
	  T "\n"
	  T "which lock already depends on the new lock.\n"
	  T "Call Trace:\n"
	  T " <TASK>\n"
	  T " dump_stack_lvl+0xd9/0x150\n"
	  T " check_noncircular+0x25f/0x2e0\n"
	  T " process_one_work+0x7c2/0x1560\n",
	  "possible deadlock in nsim_fib_event_work", 0, NULL },
	/* 10. arm32 backtraces name the caller in the same line */
	{ "arm32-backtrace",
	  "[  512.300000][ T5012] 8<--- cut here ---\n"
	  "[  512.300001][ T5012] Unable to handle kernel NULL pointer dereference at virtual address 00000004 when read\n"
	  "[  512.300002][ T5012] PC is at snd_timer_user_ioctl+0x30/0x1c4\n"
	  "[  512.300003][ T5012] Backtrace:\n"
	  "[  512.300004][ T5012] [<80d1a2b0>] (snd_timer_user_ioctl) from [<8048b0c4>] (sys_ioctl+0x10c/0x9a4)\n"
	  "[  512.300005][ T5012] [<8048afb8>] (sys_ioctl) from [<80200060>] (ret_fast_syscall+0x0/0x1c)\n",
	  "BUG: unable to handle kernel NULL pointer dereference in snd_timer_user_ioctl", 0, NULL },
	/* 11. the 6.x WARNING header: file first, function as "at" */
	{ "warning-6x",
	  T "------------[ cut here ]------------\n"
	  T "WARNING: net/xfrm/xfrm_state.c:812 at xfrm_state_fini+0x2a/0x60, CPU#1: kworker/u8:4/5012\n"
	  T "Modules linked in:\n"
	  T "RIP: 0010:xfrm_state_fini+0x2a/0x60\n"
	  T "Call Trace:\n"
	  T " <TASK>\n"
	  T " xfrm_net_exit+0x2f/0x60\n"
	  T " ops_exit_list+0x125/0x170\n",
	  "WARNING in xfrm_state_fini", 0, NULL },
	/* 12. arm64 paging request: same title as x86 */
	{ "arm64-paging",
	  "[  400.100000][ T5012] Unable to handle kernel paging request at virtual address dfff800000000004\n"
	  "[  400.100001][ T5012] pc : hfsplus_bnode_read+0x90/0x2e4\n"
	  "[  400.100002][ T5012] Call trace:\n"
	  "[  400.100003][ T5012]  hfsplus_bnode_read+0x90/0x2e4\n"
	  "[  400.100004][ T5012]  hfsplus_brec_find+0x25c/0x4a8\n",
	  "BUG: unable to handle kernel paging request in hfsplus_bnode_read", 0,
	  "bad-access in hfsplus_bnode_read" },
	/* 13. smp_call_function is the stall's name, whatever called it */
	{ "smp-call-function-stall",
	  C "watchdog: BUG: soft lockup - CPU#1 stuck for 143s! [syz-executor.5:5012]\n"
	  C "RIP: 0010:smp_call_function_many_cond+0x3a8/0x1170\n"
	  C "Call Trace:\n"
	  C " <TASK>\n"
	  C " on_each_cpu_cond_mask+0x40/0x90\n"
	  C " smp_call_function_many+0x2c/0x40\n"
	  C " kvm_make_all_cpus_request+0x1a2/0x2c0\n",
	  "BUG: soft lockup in smp_call_function", 0, "stall in smp_call_function" },
	{ "kfence",
	  T "==================================================================\n"
	  T "BUG: KFENCE: use-after-free read in ext4_xattr_inode_iget+0x3e/0x410\n"
	  T "\n"
	  T "Use-after-free read at 0xffff88823bd6cf90 (in kfence-#212):\n"
	  T " ext4_xattr_inode_iget+0x3e/0x410\n"
	  T " ext4_xattr_inode_get+0x9c/0x2a0\n"
	  T "CPU: 0 PID: 5012 Comm: syz-executor.0 Not tainted 6.3.0-syzkaller #0\n"
	  T "Call Trace:\n"
	  T " dump_stack_lvl+0xd9/0x150\n"
	  T " kfence_report_error+0x2c4/0x640\n",
	  "KFENCE: use-after-free read in ext4_xattr_inode_iget", 0,
	  "bad-access in ext4_xattr_inode_iget" },
	{ "kmsan-no-call-trace",
	  T "=====================================================\n"
	  T "BUG: KMSAN: uninit-value in hci_event_packet+0x1c2/0x1f10\n"
	  T " hci_event_packet+0x1c2/0x1f10\n"
	  T " hci_rx_work+0x6ef/0x1060\n"
	  T " process_one_work+0xb0d/0x1410\n"
	  T "\n"
	  T "Uninit was created at:\n"
	  T " slab_post_alloc_hook+0x12d/0xb60\n"
	  T " __alloc_skb+0x2ff/0x8a0\n"
	  T " vhci_write+0x11e/0x800\n",
	  "KMSAN: uninit-value in hci_event_packet", 0, "bad-access in hci_event_packet" },
	{ "login-prefix",
	  "syzkaller login: [   16.300000][ T5012] general protection fault, probably for non-canonical address 0xdffffc0000000002: 0000 [#1] PREEMPT SMP KASAN\n"
	  "[   16.300001][ T5012] RIP: 0010:tcf_exts_destroy+0x1e/0x120\n"
	  "[   16.300002][ T5012] Call Trace:\n"
	  "[   16.300003][ T5012]  route4_delete_filter_work+0x18/0x30\n"
	  "[   16.300004][ T5012]  process_one_work+0x9bf/0x1820\n",
	  "general protection fault in tcf_exts_destroy", 0, "bad-access in tcf_exts_destroy" },
	{ "divide-error-underscore",
	  C "divide_error: 0000 [#1] PREEMPT SMP KASAN\n"
	  C "RIP: 0010:sch_direct_xmit_shaper+0x93/0x1c0\n"
	  C "Call Trace:\n"
	  C " <IRQ>\n"
	  C " qdisc_restart+0x1a2/0x3c0\n"
	  C " __qdisc_run+0xd0/0x230\n",
	  "divide error in sch_direct_xmit_shaper", 0, NULL },
	{ "kmemleak-crc",
	  "[  120.000000] kmemleak: 1 new suspected memory leaks (see /sys/kernel/debug/kmemleak)\n"
	  "BUG: memory leak\n"
	  "unreferenced object 0xffff888109d8a000 (size 1024):\n"
	  "  comm \"syz-executor.0\", pid 5012, jiffies 4294951002\n"
	  "  backtrace (crc 52d6b1e0):\n"
	  "    kmemleak_alloc+0x4a/0x80\n"
	  "    __kmalloc_node_track_caller+0x4b/0x120\n"
	  "    kmalloc_reserve+0x97/0x180\n"
	  "    __alloc_skb+0xde/0x270\n"
	  "    netlink_sendmsg+0x356/0x6d0\n",
	  "memory leak in netlink_sendmsg", 0, NULL },
	/* a console that starts with a boot (the pool's) has no reboot in it */
	{ "first-boot-is-no-reboot",
	  "SeaBIOS (version 1.16.2-debian-1.16.2-1)\n"
	  "Booting from ROM..\n"
	  "Decompressing Linux... Parsing ELF... done.\n"
	  "Booting the kernel.\n"
	  "[    0.000000] Linux version 6.1.0-18-cloud-amd64 (debian-kernel@lists.debian.org)\n",
	  NULL, 0, NULL },
	{ "unexpected-reboot",
	  "[  400.000000][ T5012] syz-executor.0: forked\n"
	  "Booting the kernel.\n"
	  "[    0.000000] Linux version 6.1.0\n",
	  "unexpected kernel reboot", 0, NULL },
	/* mangled frames: Rust v0 (an inherent impl, a back-reference), C++ */
	{ "rust-panic",
	  T "rust_kernel: panicked at drivers/android/binder/thread.rs:120:5:\n"
	  T "index out of bounds: the len is 3 but the index is 7\n"
	  T "CPU: 1 UID: 0 PID: 5012 Comm: binder-test Not tainted 6.16.0-syzkaller #0\n"
	  T "Call Trace:\n"
	  T " <TASK>\n"
	  T " _RNvCs1_7___rustc17rust_begin_unwind+0x15b/0x160\n"
	  T " _RNvNtCs2_4core9panicking18panic_bounds_check+0x84/0x90\n"
	  T " _RNvMNtCs1_8my_crate3fooNtB2_3Bar3baz+0x17e5/0x1860\n"
	  T " _RNvNtCs1_8my_crate3foo4main+0x10/0x20\n",
	  "index out of bounds: the len is NUM but the index is NUM in <my_crate::foo::Bar>::baz", 0,
	  NULL },
	{ "cxx-frame",
	  T "WARNING: CPU: 1 PID: 5012 at drivers/misc/x.c:12 _ZN7android6binder4sendEv+0x10/0x20\n"
	  T "RIP: 0010:_ZN7android6binder4sendEv+0x10/0x20\n"
	  T "Call Trace:\n"
	  T " _Z8dispatchiii+0x10/0x20\n"
	  T " ret_from_fork+0x1f/0x30\n",
	  "WARNING in android::binder::send", 0, NULL },
	/* the header alone, its stack lost: corrupted */
	{ "gpf-without-stack",
	  "[   20.000000] general protection fault: 0000 [#1] SMP KASAN\n"
	  "[   20.000001] Modules linked in:\n",
	  "general protection fault in corrupted", 1, "bad-access in corrupted" },
};

static void test_report_formats__each_rule_gives_syzkallers_title(void **state)
{
	int bad = 0;
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct fcase *c = &cases[i];
		kb_report r;
		int has_alt = 0;
		assert_int_equal(kb_report_parse(&r, c->console, strlen(c->console), NULL), 0);
		if (!c->title) {
			if (r.klass != KB_RUN_OK) {
				print_message("%s: got %s '%s', want no crash\n", c->name,
					      kb_run_class_name(r.klass), r.title);
				bad++;
			}
			kb_report_free(&r);
			continue;
		}
		for (int k = 0; c->alt && k < r.nalt; k++)
			has_alt |= !strcmp(r.alt[k], c->alt);
		if (r.klass != KB_RUN_CRASH || strcmp(r.title, c->title) ||
		    r.corrupted != c->corrupted || (c->alt && !has_alt)) {
			print_message("%s: got '%s' (class %s, corrupted %d, %d alt%s%s), want "
				      "'%s' (corrupted %d, alt '%s')\n",
				      c->name, r.title, kb_run_class_name(r.klass), r.corrupted,
				      r.nalt, r.nalt ? ": " : "", r.nalt ? r.alt[0] : "", c->title,
				      c->corrupted, c->alt ? c->alt : "-");
			bad++;
		}
		kb_report_free(&r);
	}
	assert_int_equal(bad, 0);
}

static void test_report_formats__alt_titles_of_bare_titles(void **state)
{
	char alt[KB_REPORT_ALT_MAX][KB_REPORT_TITLE_MAX];
	(void)state;

	assert_int_equal(kb_report_alt_titles("KASAN: slab-use-after-free Read in tipc_recv",
					      alt, KB_REPORT_ALT_MAX), 1);
	assert_string_equal(alt[0], "bad-access in tipc_recv");
	assert_int_equal(kb_report_alt_titles("INFO: task hung in rtnl_lock", alt, 8), 1);
	assert_string_equal(alt[0], "hang in rtnl_lock");
	assert_int_equal(kb_report_alt_titles("INFO: rcu detected stall in ipv6_rcv", alt, 8), 1);
	assert_string_equal(alt[0], "stall in ipv6_rcv");
	assert_int_equal(kb_report_alt_titles("BUG: stack guard page was hit in f", alt, 8), 1);
	assert_string_equal(alt[0], "stack-overflow in f");
	assert_int_equal(kb_report_alt_titles("WARNING in foo", alt, 8), 0);
	assert_int_equal(kb_report_alt_titles(NULL, alt, 8), 0);
	assert_int_equal(kb_report_alt_titles("KASAN: x Read in f", NULL, 8), 0);
}

static void test_report_formats__title_matching_follows_alt_titles(void **state)
{
	(void)state;
	/* one bug seen as a KASAN report on x86 and a paging request on arm64 */
	assert_true(kb_report_title_matches("KASAN: use-after-free Read in nfc_llcp_sock_link",
					    "BUG: unable to handle kernel paging request in "
					    "nfc_llcp_sock_link"));
	assert_true(kb_report_title_matches("general protection fault in f", "bad-access in f"));
	assert_true(kb_report_title_matches("INFO: task hung in f", "INFO: task can't die in f"));
	/* normalisation: numbers, clones */
	assert_true(kb_report_title_matches("WARNING in foo.isra.0", "WARNING in foo"));
	assert_true(kb_report_title_matches("kernel panic: hung_task: blocked tasks 3",
					    "kernel panic: hung_task: blocked tasks 12"));
	/* different frames, different kinds of bug */
	assert_false(kb_report_title_matches("KASAN: use-after-free Read in f",
					     "KASAN: use-after-free Read in g"));
	assert_false(kb_report_title_matches("INFO: task hung in f", "general protection fault in f"));
	assert_false(kb_report_title_matches("WARNING in f", "general protection fault in f"));
	assert_false(kb_report_title_matches(NULL, "WARNING in f"));
	assert_false(kb_report_title_matches("WARNING in f", NULL));
}

/* One rule in two strengths: SAME is syzkaller's deduplication (kb_report_title_matches()),
 * SAME_BUG adds one frame with related kinds, or a renamed frame; the rest is OTHER. */
static void test_report_formats__title_relation_has_two_strengths(void **state)
{
	static const char *titles[] = {
		"KASAN: use-after-free Read in request_end",
		"KASAN: use-after-free Read in fuse_request_end",
		"general protection fault in request_end",
		"BUG: unable to handle kernel paging request in request_end",
		"WARNING in request_end",
		"INFO: task hung in request_end",
		"INFO: task can't die in request_end",
		"UBSAN: shift-out-of-bounds in f_x",
		"UBSAN: undefined-behaviour in f_x",
		"KASAN: slab-out-of-bounds Read in corrupted",
		"WARNING in f_inline_data_end",
		"WARNING in f_inline_data",
	};
	size_t n = sizeof(titles) / sizeof(titles[0]);

	(void)state;
	assert_int_equal(kb_report_title_relation("KASAN: use-after-free Read in nfc_llcp_sock_link",
						  "BUG: unable to handle kernel paging request in "
						  "nfc_llcp_sock_link"), KB_TITLE_SAME);
	assert_int_equal(kb_report_title_relation("WARNING in foo.isra.0", "WARNING in foo"),
			 KB_TITLE_SAME);
	/* a function renamed by a prefix, a leading underscore, UBSAN's renamed header */
	assert_int_equal(kb_report_title_relation(titles[0], titles[1]), KB_TITLE_SAME_BUG);
	assert_int_equal(kb_report_title_relation("general protection fault in __f_x",
						  "general protection fault in f_x"),
			 KB_TITLE_SAME_BUG);
	assert_int_equal(kb_report_title_relation(titles[7], titles[8]), KB_TITLE_SAME_BUG);
	assert_false(kb_report_title_matches(titles[0], titles[1]));
	/* other kinds, a word added at the end, a corrupted frame of another kind */
	assert_int_equal(kb_report_title_relation(titles[4], titles[0]), KB_TITLE_OTHER);
	assert_int_equal(kb_report_title_relation(titles[5], titles[2]), KB_TITLE_OTHER);
	assert_int_equal(kb_report_title_relation(titles[10], titles[11]), KB_TITLE_OTHER);
	assert_int_equal(kb_report_title_relation("KASAN: use-after-free Read in f_x", titles[9]),
			 KB_TITLE_OTHER);
	assert_int_equal(kb_report_title_relation(NULL, titles[0]), KB_TITLE_OTHER);
	assert_int_equal(kb_report_title_relation(titles[0], NULL), KB_TITLE_OTHER);
	/* the stricter strength is kb_report_title_matches(), both ways round */
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			int rel = kb_report_title_relation(titles[i], titles[j]);
			assert_int_equal(kb_report_title_matches(titles[i], titles[j]),
					 rel == KB_TITLE_SAME);
			assert_int_equal(rel, kb_report_title_relation(titles[j], titles[i]));
		}
}

/* The streaming parser gives what kb_report_parse gives, whatever the chunking, and its
 * report window does not grow with the console. */
static void test_report_formats__streaming_equals_whole_and_stays_bounded(void **state)
{
	unsigned char sizes[4096];
	size_t si = 0;
	(void)state;

	kb_test_fill_random(sizes, sizeof(sizes), 18);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *con = cases[i].console;
		size_t len = strlen(con), pos = 0;
		kb_report whole, part;
		kb_report_parser *p;
		assert_int_equal(kb_report_parse(&whole, con, len, NULL), 0);
		assert_int_equal(kb_report_parser_new(&p), 0);
		while (pos < len) {
			size_t n = 1 + (size_t)(sizes[si++ % sizeof(sizes)] % 37);
			if (n > len - pos)
				n = len - pos;
			assert_int_equal(kb_report_parser_feed(p, con + pos, n), 0);
			pos += n;
		}
		assert_int_equal(kb_report_parser_finish(&part, p, NULL), 0);
		kb_report_parser_free(p);
		assert_int_equal(part.klass, whole.klass);
		assert_string_equal(part.title, whole.title);
		assert_int_equal(part.corrupted, whole.corrupted);
		assert_int_equal(part.start, whole.start);
		assert_int_equal(part.end, whole.end);
		assert_int_equal(part.nalt, whole.nalt);
		kb_report_free(&whole);
		kb_report_free(&part);
	}

	/* a report followed by 64 MiB of its own task's output: the window is cut */
	{
		const char *head = cases[0].console;
		char line[128];
		kb_report_parser *p;
		kb_report r;
		snprintf(line, sizeof(line), "[   53.000000] %s\n",
			 "more output of the same context that never ends, again and again");
		assert_int_equal(kb_report_parser_new(&p), 0);
		assert_int_equal(kb_report_parser_feed(p, head, strlen(head)), 0);
		for (size_t sent = 0; sent < ((size_t)64 << 20); sent += strlen(line))
			assert_int_equal(kb_report_parser_feed(p, line, strlen(line)), 0);
		assert_int_equal(kb_report_parser_finish(&r, p, NULL), 0);
		kb_report_parser_free(p);
		assert_int_equal(r.klass, KB_RUN_CRASH);
		assert_string_equal(r.title, "WARNING in dev_queue_xmit");
		assert_true(strlen(r.report) <= ((size_t)1 << 20));
		kb_report_free(&r);
	}
	/* the scanner does not stop a VM that is booting */
	{
		const char *boot = "Decompressing Linux... Parsing ELF... done.\n"
				   "Booting the kernel.\n"
				   "[    0.000000] Linux version 6.1.0\n";
		kb_report_scanner *sc;
		assert_int_equal(kb_report_scanner_new(&sc), 0);
		assert_int_equal(kb_report_scan_chunk(sc, boot, strlen(boot)), KB_SCAN_QUIET);
		assert_int_equal(kb_report_scan_chunk(sc, "Booting the kernel.\n", 20),
				 KB_SCAN_STARTED);
		kb_report_scanner_free(sc);
	}
	assert_int_equal(kb_report_parser_new(NULL), KB_EINVAL);
	assert_int_equal(kb_report_parser_feed(NULL, "x", 1), KB_EINVAL);
	kb_report_parser_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report_formats__each_rule_gives_syzkallers_title),
		cmocka_unit_test(test_report_formats__alt_titles_of_bare_titles),
		cmocka_unit_test(test_report_formats__title_matching_follows_alt_titles),
		cmocka_unit_test(test_report_formats__title_relation_has_two_strengths),
		cmocka_unit_test(test_report_formats__streaming_equals_whole_and_stays_bounded),
	};
	return cmocka_run_group_tests_name("report/report_formats", tests, NULL, NULL);
}
