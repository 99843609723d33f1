/*
 * vmpool/report.c - kernel console output -> crash report, syzkaller-style title, run class.
 * Owns: the oops table (after syzkaller's pkg/report/linux.go: headers, title formats,
 * frame skip lists), console line cleaning ("\r", ANSI escapes, NUL bytes, the
 * "[  12.345678][    T1] " prefix), stack frame extraction, title normalisation (after
 * pkg/report/report.go), the run classification and the streaming scanner.
 * Not: running VMs or reading the console (vmpool/pool.c), deciding whether a crash is the
 * target crash (the bisect engine).
 * DESIGN: the console is split into cleaned lines once; the first line holding an oops
 * header (and none of its suppressions) starts the report; the report keeps the lines of
 * the same printk context (caller id or "console") up to the next unrelated oops header.
 * A format table maps the header line (POSIX ERE) to a title; "%F" in a title is the first
 * stack frame not on the skip lists, found in the RIP line, the header line or the call
 * trace, as the format says. Regexes are compiled once (pthread_once) and shared.
 */
#include <ctype.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kbisect/common.h"
#include "kbisect/error.h"
#include "kbisect/report.h"
#include "common/error_internal.h"

#define LINE_MAX_MATCH 4096      /* longer lines are cut for matching */
#define REPORT_MAX_LINES 1000    /* a report stops after this many lines */
#define MAX_FRAMES 64            /* stack frames considered per report */
#define TITLE_MAX_LEN 120        /* syzkaller's maxTitleLen */
#define SCAN_DONE_LINES 100      /* scanner: lines after an oops start before "done" */
#define BOOT_TAIL 8192           /* bytes of console kept as report of a boot failure */

/* ------------------------------------------------------------------------------------ */
/* The oops table                                                                        */

enum frames {
	FR_NONE = 0,    /* title has no frame */
	FR_RIP,         /* frame of the first "RIP: 0010:func+0x1/0x2" line */
	FR_STACK,       /* first usable frame after "Call Trace:" */
	FR_RIP_STACK,   /* RIP frame, then the call trace after it */
	FR_HDR_STACK,   /* function named in the header line (group hdr_group), then trace */
	FR_BACKTRACE,   /* frames after "backtrace:" (kmemleak) */
	FR_AT,          /* "at: func" after the line holding at_key (lockdep) */
};

enum extractor {
	EX_FIRST = 0,   /* first frame not skipped */
	EX_HUNG,        /* task hung: rtnl_lock/synchronize_* buckets, then skip waits */
	EX_STALL,       /* stalls: the frame before the first anchor (syscall entry...) */
};

struct oops_fmt {
	const char *re;       /* POSIX ERE on the header line */
	const char *title;    /* %1..%3: regex groups, %F: frame, %A: KASAN Read/Write */
	int frames;           /* enum frames */
	int hdr_group;        /* FR_HDR_STACK: group naming the function */
	const char *at_key;   /* FR_AT: line to find before "at: func" */
	const char *skip[16]; /* frames to skip: substring, "^x" prefix, "x$" suffix */
	int extractor;        /* enum extractor */
	int corrupted;        /* the format means the report is truncated */
	regex_t rx;
};

struct oops {
	const char *header;        /* substring that starts a report */
	const char *suppress[10];  /* lines holding one of these are not reports */
	struct oops_fmt *fmts;
	size_t nfmts;
};

#define SKIP(...) { __VA_ARGS__, NULL }

static struct oops_fmt bug_fmts[] = {
	{ "BUG: KASAN: (double-free or invalid-free|double-free|invalid-free) in ([A-Za-z0-9_]+)",
	  "KASAN: invalid-free in %F", FR_HDR_STACK, 2, NULL,
	  SKIP("slab_", "kfree", "vunmap", "vfree"), EX_FIRST, 0, { 0 } },
	{ "BUG: KASAN: ([a-z-]+) in ([A-Za-z0-9_]+)", "KASAN: %1 %A in %F", FR_HDR_STACK, 2, NULL,
	  SKIP("kernel_fault", "tag_check", "mem_abort", "^el1_", "^el1h_"), EX_FIRST, 0, { 0 } },
	{ "BUG: KASAN: (.*)", "KASAN: %1", FR_NONE, 0, NULL, { NULL }, EX_FIRST, 1, { 0 } },
	{ "BUG: KFENCE: (use-after-free|out-of-bounds) (read|write) in ([A-Za-z0-9_]+)",
	  "KFENCE: %1 in %F", FR_HDR_STACK, 3, NULL, { NULL }, EX_FIRST, 0, { 0 } },
	{ "BUG: KFENCE: invalid free in ([A-Za-z0-9_]+)", "KFENCE: invalid free in %F",
	  FR_HDR_STACK, 1, NULL, { NULL }, EX_FIRST, 0, { 0 } },
	{ "BUG: KMSAN: ([a-z-]+) in ([A-Za-z0-9_]+)", "KMSAN: %1 in %F", FR_HDR_STACK, 2, NULL,
	  { NULL }, EX_FIRST, 0, { 0 } },
	{ "BUG: KCSAN: (.*)", "KCSAN: %1", FR_NONE, 0, NULL, { NULL }, EX_FIRST, 0, { 0 } },
	{ "BUG: (unable to handle kernel paging request|unable to handle page fault for address"
	  "|Unable to handle kernel data access)",
	  "BUG: unable to handle kernel paging request in %F", FR_RIP_STACK, 0, NULL, { NULL },
	  EX_FIRST, 0, { 0 } },
	{ "BUG: (unable to handle kernel NULL pointer dereference|kernel NULL pointer dereference"
	  "|Kernel NULL pointer dereference)",
	  "BUG: unable to handle kernel NULL pointer dereference in %F", FR_RIP_STACK, 0, NULL,
	  { NULL }, EX_FIRST, 0, { 0 } },
	{ "BUG: (unable to handle kernel|Unable to handle kernel)", "BUG: unable to handle kernel",
	  FR_NONE, 0, NULL, { NULL }, EX_FIRST, 1, { 0 } },
	{ "BUG: (spinlock|rwlock) (lockup suspected|already unlocked|recursion|cpu recursion"
	  "|bad magic|wrong owner|wrong CPU|trylock failure on UP)",
	  "BUG: %1 %2 in %F", FR_STACK, 0, NULL, SKIP("spin_", "_lock", "_unlock"), EX_FIRST, 0,
	  { 0 } },
	{ "BUG: soft lockup", "BUG: soft lockup in %F", FR_RIP_STACK, 0, NULL, { NULL }, EX_STALL,
	  0, { 0 } },
	{ "BUG: workqueue lockup", "BUG: workqueue lockup", FR_NONE, 0, NULL, { NULL }, EX_FIRST,
	  0, { 0 } },
	{ "BUG: sleeping function called from invalid context",
	  "BUG: sleeping function called from invalid context in %F", FR_STACK, 0, NULL,
	  SKIP("__might_resched", "__might_sleep"), EX_FIRST, 0, { 0 } },
	{ "BUG: scheduling while atomic", "BUG: scheduling while atomic in %F", FR_STACK, 0, NULL,
	  SKIP("schedule"), EX_FIRST, 0, { 0 } },
	{ "BUG: using __this_cpu_([a-z_]+)\\(\\) in preemptible",
	  "BUG: using __this_cpu_%1() in preemptible code in %F", FR_STACK, 0, NULL,
	  SKIP("dump_stack", "preemption", "preempt"), EX_FIRST, 0, { 0 } },
	{ "BUG: memory leak", "memory leak in %F", FR_BACKTRACE, 0, NULL,
	  SKIP("kmemleak", "kmalloc", "kcalloc", "kzalloc", "vmalloc", "mmap", "kmem", "slab",
	       "alloc", "create_object", "idr_get", "list_lru_init", "kasprintf", "strdup",
	       "memdup"),
	  EX_FIRST, 0, { 0 } },
	{ "BUG: stack guard page was hit at", "BUG: stack guard page was hit in %F", FR_RIP, 0,
	  NULL, { NULL }, EX_FIRST, 0, { 0 } },
	{ "BUG: Bad page state", "BUG: Bad page state", FR_NONE, 0, NULL, { NULL }, EX_FIRST, 0,
	  { 0 } },
	{ "BUG: Bad page map", "BUG: Bad page map", FR_NONE, 0, NULL, { NULL }, EX_FIRST, 0,
	  { 0 } },
	{ "BUG: Bad rss-counter state", "BUG: Bad rss-counter state", FR_NONE, 0, NULL, { NULL },
	  EX_FIRST, 0, { 0 } },
	{ "BUG: workqueue leaked lock or atomic", "BUG: workqueue leaked lock or atomic", FR_NONE,
	  0, NULL, { NULL }, EX_FIRST, 0, { 0 } },
	{ "BUG:[[:space:]]*$", "BUG: corrupted", FR_NONE, 0, NULL, { NULL }, EX_FIRST, 1, { 0 } },
};

static struct oops_fmt warning_fmts[] = {
	{ "WARNING: .*lib/debugobjects\\.c.* (debug_print|debug_check)",
	  "WARNING: ODEBUG bug in %F", FR_RIP_STACK, 0, NULL,
	  SKIP("debug_", "rcu", "hrtimer_", "timer_", "work_", "percpu_", "kmem_", "slab_",
	       "kfree", "vunmap", "vfree", "__free_", "kobject_"),
	  EX_FIRST, 0, { 0 } },
	{ "WARNING: .*mm/usercopy\\.c.* usercopy_warn", "WARNING: bad usercopy in %F",
	  FR_RIP_STACK, 0, NULL, SKIP("usercopy", "__check"), EX_FIRST, 0, { 0 } },
	{ "WARNING: .*lib/kobject\\.c.* kobject_", "WARNING: kobject bug in %F", FR_RIP_STACK, 0,
	  NULL, SKIP("kobject_"), EX_FIRST, 0, { 0 } },
	{ "WARNING: .*fs/proc/generic\\.c.* proc_register", "WARNING: proc registration bug in %F",
	  FR_RIP_STACK, 0, NULL, SKIP("proc_"), EX_FIRST, 0, { 0 } },
	{ "WARNING: .*lib/refcount\\.c.* refcount_", "WARNING: refcount bug in %F", FR_RIP_STACK,
	  0, NULL, SKIP("refcount", "kobject_"), EX_FIRST, 0, { 0 } },
	{ "WARNING: .*kernel/locking/lockdep\\.c.*lock_", "WARNING: locking bug in %F",
	  FR_RIP_STACK, 0, NULL, SKIP("lock_sock", "release_sock"), EX_FIRST, 0, { 0 } },
	{ "WARNING: .*mm/.*\\.c.* k?.?malloc", "WARNING: kmalloc bug in %F", FR_RIP_STACK, 0, NULL,
	  SKIP("kmalloc", "kcalloc", "kzalloc", "krealloc", "vmalloc", "slab", "kmem"),
	  EX_FIRST, 0, { 0 } },
	{ "WARNING: possible circular locking dependency detected", "possible deadlock in %F",
	  FR_AT, 0, "is trying to acquire lock", { NULL }, EX_FIRST, 0, { 0 } },
	{ "WARNING: possible recursive locking detected", "possible deadlock in %F", FR_AT, 0,
	  "is trying to acquire lock", { NULL }, EX_FIRST, 0, { 0 } },
	{ "WARNING: possible irq lock inversion dependency detected", "possible deadlock in %F",
	  FR_AT, 0, "just changed the state of lock", { NULL }, EX_FIRST, 0, { 0 } },
	{ "WARNING: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected", "possible deadlock in %F",
	  FR_AT, 0, "is trying to acquire", { NULL }, EX_FIRST, 0, { 0 } },
	{ "WARNING: inconsistent lock state", "inconsistent lock state in %F", FR_AT, 0, "takes",
	  { NULL }, EX_FIRST, 0, { 0 } },
	{ "WARNING: suspicious RCU usage", "WARNING: suspicious RCU usage in %F", FR_STACK, 0,
	  NULL, SKIP("rcu", "kmem", "slab", "kmalloc", "vmalloc", "kcalloc", "kzalloc"),
	  EX_FIRST, 0, { 0 } },
	{ "WARNING: .* at [a-zA-Z0-9_/.-]+\\.[a-z]+:[0-9]+ ([a-zA-Z0-9_]+)", "WARNING in %F",
	  FR_RIP_STACK, 0, NULL, { NULL }, EX_FIRST, 0, { 0 } },
	{ "WARNING:[[:space:]]*$", "WARNING: corrupted", FR_NONE, 0, NULL, { NULL }, EX_FIRST, 1,
	  { 0 } },
};

static struct oops_fmt info_fmts[] = {
	{ "INFO: task .* blocked (in I/O wait )?for more than [0-9]+ seconds", "INFO: task hung in %F", FR_STACK,
	  0, NULL, { NULL }, EX_HUNG, 0, { 0 } },
	{ "INFO: rcu_(preempt|sched|bh) (self-)?detected( expedited)? stall",
	  "INFO: rcu detected stall in %F", FR_RIP_STACK, 0, NULL,
	  SKIP("apic_timer_interrupt", "rcu"), EX_STALL, 0, { 0 } },
	{ "INFO: rcu_tasks detected stalls? on tasks", "INFO: rcu detected stall in %F", FR_STACK,
	  0, NULL, SKIP("apic_timer_interrupt", "rcu"), EX_STALL, 0, { 0 } },
	{ "INFO: possible circular locking dependency detected", "possible deadlock in %F", FR_AT,
	  0, "is trying to acquire lock", { NULL }, EX_FIRST, 0, { 0 } },
	{ "INFO: possible recursive locking detected", "possible deadlock in %F", FR_AT, 0,
	  "is trying to acquire lock", { NULL }, EX_FIRST, 0, { 0 } },
	{ "INFO: inconsistent lock state", "inconsistent lock state in %F", FR_AT, 0, "takes",
	  { NULL }, EX_FIRST, 0, { 0 } },
	{ "INFO: trying to register non-static key", "INFO: trying to register non-static key in %F",
	  FR_STACK, 0, NULL, SKIP("stack", "lock", "IRQ"), EX_FIRST, 0, { 0 } },
	{ "INFO: suspicious RCU usage", "INFO: suspicious RCU usage in %F", FR_STACK, 0, NULL,
	  SKIP("rcu", "kmem", "slab", "kmalloc", "vmalloc", "kcalloc", "kzalloc"), EX_FIRST, 0,
	  { 0 } },
	{ "INFO:[[:space:]]*$", "INFO: corrupted", FR_NONE, 0, NULL, { NULL }, EX_FIRST, 1, { 0 } },
};

static struct oops_fmt arm_paging_fmts[] = {
	{ "Unable to handle kernel paging request", "unable to handle kernel paging request in %F",
	  FR_RIP_STACK, 0, NULL, { NULL }, EX_FIRST, 0, { 0 } },
};

static struct oops_fmt gpf_fmts[] = {
	{ "general protection fault", "general protection fault in %F", FR_RIP_STACK, 0, NULL,
	  { NULL }, EX_FIRST, 0, { 0 } },
};

static struct oops_fmt stack_segment_fmts[] = {
	{ "stack segment: ", "stack segment fault in %F", FR_RIP_STACK, 0, NULL, { NULL },
	  EX_FIRST, 0, { 0 } },
};

static struct oops_fmt panic_fmts[] = {
	{ "Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: "
	  "([a-zA-Z0-9_]+)",
	  "kernel panic: stack is corrupted in %1", FR_NONE, 0, NULL, { NULL }, EX_FIRST, 0,
	  { 0 } },
	{ "Kernel panic - not syncing: stack-protector:", "kernel panic: stack is corrupted in %F",
	  FR_STACK, 0, NULL, SKIP("stack_chk"), EX_FIRST, 0, { 0 } },
	{ "Kernel panic - not syncing: corrupted stack end",
	  "kernel panic: corrupted stack end in %F", FR_STACK, 0, NULL,
	  SKIP("schedule", "retint_kernel"), EX_STALL, 0, { 0 } },
	{ "Kernel panic - not syncing: Attempted to kill init!",
	  "kernel panic: Attempted to kill init!", FR_NONE, 0, NULL, { NULL }, EX_FIRST, 0,
	  { 0 } },
	{ "Kernel panic - not syncing: Couldn't open N_TTY ldisc",
	  "kernel panic: Couldn't open N_TTY ldisc", FR_NONE, 0, NULL, { NULL }, EX_FIRST, 0,
	  { 0 } },
	{ "Kernel panic - not syncing: Fatal exception", "kernel panic: Fatal exception", FR_NONE,
	  0, NULL, { NULL }, EX_FIRST, 1, { 0 } },
	{ "Kernel panic - not syncing: .*panic_on_warn set", "kernel panic: panic_on_warn set",
	  FR_NONE, 0, NULL, { NULL }, EX_FIRST, 1, { 0 } },
	{ "Kernel panic - not syncing: hung_task: blocked tasks",
	  "kernel panic: hung_task: blocked tasks", FR_NONE, 0, NULL, { NULL }, EX_FIRST, 1,
	  { 0 } },
	{ "Kernel panic - not syncing: (.*)", "kernel panic: %1", FR_NONE, 0, NULL, { NULL },
	  EX_FIRST, 0, { 0 } },
};

static struct oops_fmt double_fault_fmts[] = {
	{ "PANIC: double fault", "PANIC: double fault in %F", FR_RIP, 0, NULL, { NULL }, EX_FIRST,
	  0, { 0 } },
};

static struct oops_fmt kernel_bug_fmts[] = {
	{ "kernel BUG at mm/usercopy\\.c", "BUG: bad usercopy in %F", FR_STACK, 0, NULL,
	  SKIP("usercopy", "__check"), EX_FIRST, 0, { 0 } },
	{ "kernel BUG at lib/list_debug\\.c", "BUG: corrupted list in %F", FR_STACK, 0, NULL,
	  { NULL }, EX_FIRST, 0, { 0 } },
	{ "kernel BUG at (.*)", "kernel BUG in %F", FR_RIP_STACK, 0, NULL, SKIP("^skb_"),
	  EX_FIRST, 0, { 0 } },
};

static struct oops_fmt kernel_bug2_fmts[] = {
	{ "Kernel BUG (.*)", "kernel BUG %1", FR_NONE, 0, NULL, { NULL }, EX_FIRST, 0, { 0 } },
};

static struct oops_fmt kmalloc_fmts[] = {
	{ "BUG kmalloc-.*: Object already free", "BUG: Object already free", FR_NONE, 0, NULL,
	  { NULL }, EX_FIRST, 0, { 0 } },
};

static struct oops_fmt divide_fmts[] = {
	{ "divide error: ", "divide error in %F", FR_RIP, 0, NULL, { NULL }, EX_FIRST, 0, { 0 } },
};

static struct oops_fmt opcode_fmts[] = {
	{ "invalid opcode: ", "invalid opcode in %F", FR_RIP, 0, NULL, { NULL }, EX_FIRST, 0,
	  { 0 } },
};

static struct oops_fmt ubsan_fmts[] = {
	{ "UBSAN: Undefined behaviour in", "UBSAN: undefined-behaviour in %F", FR_STACK, 0, NULL,
	  SKIP("ubsan", "overflow"), EX_FIRST, 0, { 0 } },
	{ "UBSAN: ([a-z-]+) in", "UBSAN: %1 in %F", FR_STACK, 0, NULL, SKIP("ubsan", "overflow"),
	  EX_FIRST, 0, { 0 } },
};

static struct oops_fmt netdev_fmts[] = {
	{ "unregister_netdevice: waiting for .* to become free",
	  "unregister_netdevice: waiting for DEV to become free", FR_NONE, 0, NULL, { NULL },
	  EX_FIRST, 0, { 0 } },
};

#define FMTS(a) a, sizeof(a) / sizeof(a[0])

static struct oops oopses[] = {
	{ "BUG:", { "ODEBUG:", "Boot_DEBUG:", "DEBUG:", "BUG: no syscalls can create resource" },
	  FMTS(bug_fmts) },
	{ "WARNING:", { "WARNING: /etc/ssh/moduli does not exist",
			"WARNING: workqueue cpumask: online intersect > possible intersect" },
	  FMTS(warning_fmts) },
	{ "INFO:", { "INFO: lockdep is turned off", "INFO: Stall ended before state dump start",
		     "INFO: NMI handler", "INFO: recovery required on readonly filesystem",
		     "took too long", "_INFO::", "INFO: no syscalls can create resource" },
	  FMTS(info_fmts) },
	{ "Unable to handle kernel paging request", { NULL }, FMTS(arm_paging_fmts) },
	{ "general protection fault", { NULL }, FMTS(gpf_fmts) },
	{ "stack segment: ", { NULL }, FMTS(stack_segment_fmts) },
	{ "Kernel panic", { NULL }, FMTS(panic_fmts) },
	{ "PANIC: double fault", { NULL }, FMTS(double_fault_fmts) },
	{ "kernel BUG", { NULL }, FMTS(kernel_bug_fmts) },
	{ "Kernel BUG", { NULL }, FMTS(kernel_bug2_fmts) },
	{ "BUG kmalloc-", { NULL }, FMTS(kmalloc_fmts) },
	{ "divide error:", { NULL }, FMTS(divide_fmts) },
	{ "invalid opcode:", { NULL }, FMTS(opcode_fmts) },
	{ "UBSAN:", { NULL }, FMTS(ubsan_fmts) },
	{ "unregister_netdevice: waiting for", { NULL }, FMTS(netdev_fmts) },
};
#define NOOPSES (sizeof(oopses) / sizeof(oopses[0]))

/* Headers that do not start a second report inside a first one. */
static const char *const report_start_ignores[] = {
	"invalid opcode: 0000", "Kernel panic - not syncing", "unregister_netdevice: waiting for",
	"PANIC: double fault", NULL,
};

/* Frames never used in titles (syzkaller's linuxStackParams.skipPatterns, as one ERE). */
static const char *const global_skip[] = {
	"__sanitizer", "__asan", "kasan", "__msan", "kmsan", "kcsan_setup_watchpoint",
	"check_memory_region", "check_heap_object", "check_object", "read_word_at_a_time",
	"(read|write)_once_.*nocheck", "print_address_description", "panic", "invalid_op",
	"report_bug", "fixup_bug", "print_report", "print_usage_bug", "do_error", "_trap$",
	"do_trap", "show_stack", "dump_stack", "walk_stack", "dump_backtrace", "warn_slowpath",
	"warn_alloc", "warn_bogus", "__warn", "alloc_page", "k?v?(m|z|c)alloc", "krealloc",
	"kmem_cache", "allocate_slab", "folio_alloc", "filemap_alloc_folio", "__filemap_get_folio",
	"find_or_create_page", "do_read_cache_folio", "read_cache_page", "pagecache_get_page",
	"grab_cache_page_write_begin", "slab_", "debug_object", "timer_is_static_object",
	"work_is_static_object", "__might_fault", "print_unlock", "imbalance_bug", "lockdep",
	"bh_enable", "bh_disable", "perf_trace", "lock_acquire", "lock_release", "lock_class",
	"mark_lock", "(reacquire|mark)_held_locks", "raw_spin_rq", "spin_lock", "spin_trylock",
	"spin_unlock", "read_lock", "read_trylock", "write_lock", "write_trylock", "read_unlock",
	"write_unlock", "^down$", "down_read", "down_write", "down_trylock", "up_read",
	"up_write", "^mutex_", "^__mutex_", "^rt_mutex_", "owner_on_cpu", "osq_lock",
	"osq_unlock", "atomic(64)?_(dec|inc|read|set|or|xor|and|add|sub|fetch|xchg|cmpxchg|try)",
	"(set|clear|change|test)_bit", "__wake_up", "^refcount_", "^kref_", "ref_tracker",
	"seqprop_assert", "memcpy", "memcmp", "memset", "memchr", "memmove", "memdup", "strcmp",
	"strncmp", "strcpy", "strlcpy", "strncpy", "strscpy", "strlen", "strstr", "strnstr",
	"strnlen", "strchr", "strdup", "strndup", "copy_to_user", "copy_from_user",
	"copy_to_iter", "copy_from_iter", "copy_page_to_iter", "copy_page_from_iter",
	"copy_folio_to_iter", "^copyin$", "^copyout$", "put_user", "get_user", "might_fault",
	"might_sleep", "list_add", "list_del", "list_replace", "list_move", "list_splice",
	"^rb_", "^__rb_", "_indirect_thunk_", "string", "pointer", "snprintf", "scnprintf",
	"kasprintf", "kvasprintf", "printk", "va_format", "dev_info", "dev_notice", "dev_warn",
	"dev_err", "dev_alert", "dev_crit", "dev_emerg", "program_check_exception",
	"program_check_common", "del_timer", "flush_work", "__cancel_work_timer",
	"cancel_work_sync", "try_to_grab_pending", "flush_workqueue", "drain_workqueue",
	"destroy_workqueue", "queue_work", "finish_wait", "kthread_stop", "kobject_",
	"add_uevent_var", "get_device_parent", "device_add", "device_del", "device_unregister",
	"device_destroy", "device_release", "devres_release_all", "hwrng_unregister",
	"i2c_del_adapter", "__unregister_client", "device_for_each_child", "rollback_registered",
	"unregister_netdev", "sysfs_remove", "device_remove_file", "tty_unregister_device",
	"dummy_urb_enqueue", "usb_kill_urb", "usb_kill_anchored_urbs", "usb_control_msg",
	"usb_hcd_submit_urb", "usb_submit_urb", "^complete$", "wait_for_completion",
	"^kv?free$", "kfree_skb", "readb$", "readw$", "readl$", "readq$", "writeb$", "writew$",
	"writel$", "writeq$", "logic_in", "logic_out", "^crc[0-9]+", "crc_itu_t",
	"__might_resched", "assertfail", "^iput$", "^iput_final$", "^ihold$",
	"hex_dump_to_buffer", "print_hex_dump", "^klist_", "(trace|lockdep)_(hard|soft)irq",
	"^(un)?lock_page", "stack_trace_consume_entry", "arch_stack_walk", "stack_trace_save",
	"insert_work", "__queue_delayed_work", "queue_delayed_work_on",
	"do_(kernel|translation)_fault", "do_mem_abort", "el1_abort", "el1h_64_sync(_handler)?",
	"print_tainted", "xas_(start|load|find)", "find_lock_entries",
	"truncate_inode_pages_range", NULL,
};

/* Stall reports: the frame before the first of these names the stall. */
static const char *const stall_anchors[] = {
	"process_one_work", "do_syscall_", "do_fast_syscall_", "sysenter_dispatch",
	"tracesys_phase2", "el0_svc_handler", "invoke_syscall", "ret_fast_syscall",
	"netif_receive_skb", "do_softirq", "call_timer_fn", "_run_timers", "run_timer_softirq",
	"hrtimer_run", "run_ksoftirqd", "smpboot_thread_fn", "^kthread$", "start_secondary",
	"cpu_startup_entry", "ret_from_fork", "vfs_write", "vfs_read", "vfs_iter_read",
	"vfs_iter_write", "do_iter_read", "do_iter_write", "call_read_iter", "call_write_iter",
	"new_sync_read", "new_sync_write", "vfs_ioctl", "ksys_ioctl", "compat_ioctl",
	"compat_sys_ioctl", "blkdev_driver_ioctl", "blkdev_ioctl", "do_iter_readv_writev",
	"^call_mmap", "mmap_region", "do_mmap", "do_dentry_open", "vfs_open", "^sock_sendmsg",
	"^sock_recvmsg", "^sock_release", "^__sock_release", "^setsockopt$", "kernel_setsockopt",
	"sock_common_setsockopt", "^listen$", "kernel_listen", "sk_common_release", "^sock_mmap",
	"^accept$", "kernel_accept", "^sock_do_ioctl", "^sock_ioctl", "^compat_sock_ioctl",
	"^nfnetlink_rcv_msg", "^rtnetlink_rcv_msg", "^netlink_dump",
	"^(sys_)?(socketpair|connect|ioctl)", "__do_fault", "do_page_fault", "^page_fault$",
	"__fput", "task_work_run", "exit_to_usermode", "smp_call_function", "tasklet_action",
	"tasklet_hi_action", NULL,
};

/* Prefixes removed from frames, in this order, each at most once. */
static const char *const strip_prefixes[] = {
	"SYSC_", "SyS_", "sys_", "__x64_", "__ia32_", "__arm64_", "____sys_", "___sys_", "__sys_",
	"__se_", "__do_sys_", "compat_SYSC_", "compat_SyS_", "ksys_", NULL,
};

/* Title normalisation (syzkaller's dynamicTitleReplacement), applied until stable. */
struct repl {
	const char *re;
	const char *with; /* \1..\3 are groups */
	regex_t rx;
};

static struct repl title_repls[] = {
	{ "syz-executor\\.?[0-9]+((/|:)[0-9]+)?", "syz-executor", { 0 } },
	{ "syzkaller[0-9]+((/|:)[0-9]+)?", "syzkaller", { 0 } },
	/* compiler clones: foo.isra.0, foo.constprop.12, foo.part.3.cold */
	{ "([A-Za-z0-9_])\\.(isra|constprop|part|cold|llvm|lto_priv)(\\.[0-9]+)*", "\\1", { 0 } },
	{ "([^a-zA-Z0-9])(0x)?[0-9a-f]{6,}", "\\1ADDR", { 0 } },
	{ "([0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3})", "IP", { 0 } },
	{ "(\\.[A-Za-z0-9_]+)(:[0-9]+)+", "\\1:LINE", { 0 } },
	{ "([a-zA-Z][a-zA-Z0-9_.]+)\\+0x[0-9a-z]+/0x[0-9a-z]+", "\\1", { 0 } },
	{ "CPU#[0-9]+", "CPU", { 0 } },
	{ "([^A-Za-z0-9_])([0-9]+)([^A-Za-z0-9_]|$)", "\\1NUM\\3", { 0 } },
	{ "[0-9]{7,}", "NUM", { 0 } },
};
#define NREPLS (sizeof(title_repls) / sizeof(title_repls[0]))

static regex_t skip_rx, anchor_rx;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_failed;

static int compile_alternation(regex_t *rx, const char *const *list)
{
	size_t n = 1;
	char *s;
	int rc;

	for (size_t i = 0; list[i]; i++)
		n += strlen(list[i]) + 3;
	s = malloc(n);
	if (!s)
		return -1;
	s[0] = '\0';
	for (size_t i = 0; list[i]; i++) {
		if (i)
			strcat(s, "|");
		strcat(s, "(");
		strcat(s, list[i]);
		strcat(s, ")");
	}
	rc = regcomp(rx, s, REG_EXTENDED | REG_NOSUB);
	free(s);
	return rc ? -1 : 0;
}

static void init_tables(void)
{
	for (size_t i = 0; i < NOOPSES; i++)
		for (size_t j = 0; j < oopses[i].nfmts; j++)
			if (regcomp(&oopses[i].fmts[j].rx, oopses[i].fmts[j].re, REG_EXTENDED))
				init_failed = 1;
	for (size_t i = 0; i < NREPLS; i++)
		if (regcomp(&title_repls[i].rx, title_repls[i].re, REG_EXTENDED))
			init_failed = 1;
	if (compile_alternation(&skip_rx, global_skip) ||
	    compile_alternation(&anchor_rx, stall_anchors))
		init_failed = 1;
}

static int ensure_init(void)
{
	pthread_once(&init_once, init_tables);
	if (init_failed)
		return kb_error_set(KB_ERRCLASS_VMPOOL,
				    "cannot compile the crash report patterns; this is a bug in "
				    "vmpool/report.c, please report it");
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Lines                                                                                 */

struct line {
	size_t off, end;   /* raw bytes [off, end) of the line, without its '\n' */
	size_t next;       /* raw offset of the following line */
	char *text;        /* cleaned line (no '\r', escapes, control bytes), NUL-terminated */
	const char *msg;   /* text after the printk prefix */
	char ctx[16];      /* "T12"/"C0" caller id, "console" (time stamp only) or "" */
	int questionable;  /* " ? func+0x1/0x2": unreliable frame */
};

/* Copy raw[0, n) into out cleaned: drop '\r', NUL and other control bytes (tab becomes a
 * space), and ANSI escape sequences; keep at most LINE_MAX_MATCH bytes. */
static size_t clean_line(char *out, const char *raw, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o < LINE_MAX_MATCH; i++) {
		unsigned char c = (unsigned char)raw[i];
		if (c == 0x1b) { /* ESC [ params final, or ESC + one byte */
			if (i + 1 < n && raw[i + 1] == '[') {
				i += 2;
				while (i < n && ((unsigned char)raw[i] < 0x40 ||
						 (unsigned char)raw[i] > 0x7e))
					i++;
			} else {
				i++;
			}
			continue;
		}
		if (c == '\t')
			c = ' ';
		if (c < 0x20 || c == 0x7f)
			continue;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return o;
}

/* Parse the printk prefix "<6>[  12.345678][    T1] " of s: returns the message start
 * and sets ctx to the caller id, "console" or "". */
static const char *strip_prefix(const char *s, char ctx[16])
{
	const char *p = s;

	ctx[0] = '\0';
	if (*p == '<') {
		const char *q = p + 1;
		while (isdigit((unsigned char)*q))
			q++;
		if (q > p + 1 && *q == '>')
			p = q + 1;
	}
	if (*p != '[')
		return s;
	p++;
	while (*p == ' ')
		p++;
	if (!isdigit((unsigned char)*p))
		return s;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p != '.')
		return s;
	p++;
	if (!isdigit((unsigned char)*p))
		return s;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p != ']')
		return s;
	p++;
	strcpy(ctx, "console");
	if (*p == '[') {
		const char *q = p + 1;
		while (*q == ' ')
			q++;
		if ((*q == 'T' || *q == 'C') && isdigit((unsigned char)q[1])) {
			const char *d = q + 1;
			size_t k;
			while (isdigit((unsigned char)*d))
				d++;
			if (*d == ']' && (size_t)(d - q) < 15) {
				k = (size_t)(d - q);
				memcpy(ctx, q, k);
				ctx[k] = '\0';
				p = d + 1;
			}
		}
	}
	if (*p == ' ')
		p++;
	return p;
}

/* " ? func+0x1/0x2" (unreliable frame) */
static int is_questionable(const char *msg)
{
	const char *p = msg;
	while (*p == ' ')
		p++;
	if (p[0] == '[' && p[1] == '<') { /* [<ffffffff81000000>] ? func */
		const char *q = strchr(p, ']');
		if (q)
			p = q + 1;
		while (*p == ' ')
			p++;
	}
	return p[0] == '?' && p[1] == ' ' && strstr(p, "+0x") != NULL;
}

struct lines {
	struct line *v;
	size_t n, cap;
	char *arena;
};

static void lines_free(struct lines *ls)
{
	free(ls->v);
	free(ls->arena);
	memset(ls, 0, sizeof(*ls));
}

static int lines_split(struct lines *ls, const char *buf, size_t len)
{
	size_t pos = 0, apos = 0;

	memset(ls, 0, sizeof(*ls));
	/* cleaned text never exceeds the raw text plus one NUL per line (<= 2 len + 1) */
	ls->arena = malloc(2 * len + 2);
	if (!ls->arena)
		goto oom;
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len;
		struct line *l;
		if (ls->n == ls->cap) {
			size_t cap = ls->cap ? ls->cap * 2 : 256;
			struct line *v = realloc(ls->v, cap * sizeof(*v));
			if (!v)
				goto oom;
			ls->v = v;
			ls->cap = cap;
		}
		l = &ls->v[ls->n++];
		l->off = pos;
		l->end = end;
		l->next = nl ? end + 1 : len;
		l->text = ls->arena + apos;
		apos += clean_line(l->text, buf + pos, end - pos) + 1;
		pos = l->next;
	}
	for (size_t i = 0; i < ls->n; i++) {
		struct line *l = &ls->v[i];
		l->msg = strip_prefix(l->text, l->ctx);
		l->questionable = l->ctx[0] && is_questionable(l->msg);
	}
	return 0;
oom:
	lines_free(ls);
	return kb_error_set(KB_ERRCLASS_OS, "out of memory while splitting %zu bytes of console "
			    "into lines; free memory or shorten the console log", len);
}

/* ------------------------------------------------------------------------------------ */
/* Oops detection                                                                        */

static int line_has_any(const char *s, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (strstr(s, list[i]))
			return 1;
	return 0;
}

/* The oops whose header line s is, or NULL. */
static struct oops *match_oops(const char *s)
{
	for (size_t i = 0; i < NOOPSES; i++) {
		if (!strstr(s, oopses[i].header))
			continue;
		if (line_has_any(s, oopses[i].suppress))
			continue;
		return &oopses[i];
	}
	return NULL;
}

static const char *infra_marker(const char *s)
{
	const char *p = strstr(s, "SYZFAIL:");
	return p ? p : strstr(s, "SYZFATAL:");
}

/* ------------------------------------------------------------------------------------ */
/* Frames                                                                                */

/* A function name at p followed by '.' or '+' ("func+0x1/0x2", "func.isra.0+..."):
 * copies it into out and returns 1. */
static int take_func(const char *p, char *out, size_t outsz)
{
	size_t n = 0;
	while (isalnum((unsigned char)p[n]) || p[n] == '_')
		n++;
	if (n == 0 || (p[n] != '.' && p[n] != '+') || n >= outsz)
		return 0;
	memcpy(out, p, n);
	out[n] = '\0';
	return 1;
}

/* Skip "[<ffffffff81234567>] " program counters (at most two). */
static const char *skip_pcs(const char *p)
{
	for (int k = 0; k < 2 && *p == '['; k++) {
		const char *q = p + 1;
		if (*q == '<')
			q++;
		if (q[0] == '0' && q[1] == 'x')
			q += 2;
		if (!isxdigit((unsigned char)*q))
			break;
		while (isxdigit((unsigned char)*q))
			q++;
		if (*q == '>')
			q++;
		if (*q != ']')
			break;
		p = q + 1;
		while (*p == ' ')
			p++;
	}
	return p;
}

/* A stack trace line "  [<pc>] func+0x1/0x2 ..." */
static int frame_of_line(const char *msg, char *out, size_t outsz)
{
	const char *p = msg;
	while (*p == ' ')
		p++;
	p = skip_pcs(p);
	return take_func(p, out, outsz);
}

/* "RIP: 0010:func+0x1/0x2", "IP: [<pc>] func", "pc : func+0x", "PC is at func+0x" */
static int frame_of_rip(const char *msg, char *out, size_t outsz)
{
	static const char *const markers[] = { "IP: ", "pc : ", "PC is at ", NULL };
	for (size_t m = 0; markers[m]; m++) {
		const char *p = strstr(msg, markers[m]);
		if (!p)
			continue;
		p += strlen(markers[m]);
		{
			const char *q = p;
			while (isdigit((unsigned char)*q))
				q++;
			if (q > p && *q == ':')
				p = q + 1;
		}
		while (*p == ' ')
			p++;
		p = skip_pcs(p);
		if (take_func(p, out, outsz))
			return 1;
	}
	return 0;
}

static int is_stack_start(const char *msg)
{
	const char *p;
	if (strstr(msg, "Call Trace") || strstr(msg, "Call trace") || strstr(msg, "Backtrace:") ||
	    strstr(msg, "Allocated by task ") || strstr(msg, "Freed by task ") ||
	    strstr(msg, "Allocated:") || strstr(msg, "Freed:"))
		return 1;
	p = strstr(msg, " backtrace:");
	return p && !(p >= msg + 5 && !strncmp(p - 5, "stack", 5));
}

static int skip_match(const char *frame, const char *pat)
{
	size_t fl = strlen(frame), pl = strlen(pat);
	if (pat[0] == '^')
		return !strncmp(frame, pat + 1, pl - 1);
	if (pl && pat[pl - 1] == '$')
		return fl >= pl - 1 && !strncmp(frame + fl - (pl - 1), pat, pl - 1);
	return strstr(frame, pat) != NULL;
}

struct framelist {
	char f[MAX_FRAMES][128];
	size_t n;
};

static void add_frame(struct framelist *fl, const char *frame, const struct oops_fmt *fmt)
{
	char buf[128];
	const char *p = frame;

	if (fl->n >= MAX_FRAMES)
		return;
	if (regexec(&skip_rx, frame, 0, NULL, 0) == 0)
		return;
	for (size_t i = 0; fmt->skip[i]; i++)
		if (skip_match(frame, fmt->skip[i]))
			return;
	for (size_t i = 0; strip_prefixes[i]; i++) /* the shortest single-prefix strip */
		if (!strncmp(frame, strip_prefixes[i], strlen(strip_prefixes[i])) &&
		    strlen(frame + strlen(strip_prefixes[i])) < strlen(p))
			p = frame + strlen(strip_prefixes[i]);
	snprintf(buf, sizeof(buf), "%s", p);
	memcpy(fl->f[fl->n++], buf, sizeof(buf));
}

/* Frames of the stack trace starting after line index i (up to the next trace start). */
static void add_trace(struct framelist *fl, char **msgs, size_t n, size_t i,
		      const struct oops_fmt *fmt)
{
	char fn[128];
	for (; i < n; i++) {
		if (is_stack_start(msgs[i]))
			break;
		if (frame_of_line(msgs[i], fn, sizeof(fn)))
			add_frame(fl, fn, fmt);
	}
}

static size_t find_from(char **msgs, size_t n, size_t i, const char *what)
{
	for (; i < n; i++)
		if (strstr(msgs[i], what))
			return i;
	return n;
}

static size_t find_stack_start(char **msgs, size_t n, size_t i)
{
	for (; i < n; i++)
		if (is_stack_start(msgs[i]))
			return i;
	return n;
}

static const char *extract_hung(struct framelist *fl)
{
	static const char *const skip[] = { "sched", "_lock", "_slowlock", "down", "rwsem",
					    "completion", "kthread", "wait", "synchronize",
					    "context_switch", "__switch_to", "cancel_delayed_work",
					    "rcu_barrier", NULL };
	for (size_t i = 0; i < fl->n; i++) {
		if (strstr(fl->f[i], "rtnl_lock"))
			return fl->f[i];
		if (strstr(fl->f[i], "synchronize_rcu") || strstr(fl->f[i], "synchronize_srcu") ||
		    strstr(fl->f[i], "synchronize_net") || strstr(fl->f[i], "synchronize_sched"))
			return "synchronize_rcu";
	}
	for (size_t i = 0; i < fl->n; i++)
		if (!line_has_any(fl->f[i], skip))
			return fl->f[i];
	return NULL;
}

static const char *extract_stall(struct framelist *fl)
{
	static const char *const pfx[] = { "__x64_", "SYSC_", "SyS_", "compat_SYSC_",
					   "compat_SyS_", "__ia32_sys_", NULL };
	const char *prev;
	if (fl->n == 0)
		return NULL;
	prev = fl->f[0];
	for (size_t i = 0; i < fl->n; i++) {
		if (regexec(&anchor_rx, fl->f[i], 0, NULL, 0) == 0) {
			for (size_t k = 0; pfx[k]; k++)
				if (!strncmp(prev, pfx[k], strlen(pfx[k])))
					prev += strlen(pfx[k]);
			return prev;
		}
		prev = fl->f[i];
	}
	return NULL;
}

/* The frame for fmt in the report lines msgs[0, n) (msgs[0] is the header line). */
static const char *report_frame(struct framelist *fl, const struct oops_fmt *fmt, char **msgs,
				size_t n, const regmatch_t *m)
{
	char fn[128];
	size_t i = 0, rip = n;

	fl->n = 0;
	switch (fmt->frames) {
	case FR_RIP:
	case FR_RIP_STACK:
		for (i = 0; i < n; i++)
			if (frame_of_rip(msgs[i], fn, sizeof(fn))) {
				rip = i;
				add_frame(fl, fn, fmt);
				break;
			}
		if (fmt->frames == FR_RIP)
			break;
		i = find_stack_start(msgs, n, rip < n ? rip + 1 : 0);
		if (i < n)
			add_trace(fl, msgs, n, i + 1, fmt);
		break;
	case FR_HDR_STACK: {
		const regmatch_t *g = &m[fmt->hdr_group];
		if (g->rm_so >= 0 && g->rm_eo - g->rm_so < (regoff_t)sizeof(fn)) {
			memcpy(fn, msgs[0] + g->rm_so, (size_t)(g->rm_eo - g->rm_so));
			fn[g->rm_eo - g->rm_so] = '\0';
			add_frame(fl, fn, fmt);
		}
		i = find_stack_start(msgs, n, 1);
		if (i < n)
			add_trace(fl, msgs, n, i + 1, fmt);
		break;
	}
	case FR_STACK:
		i = find_stack_start(msgs, n, 0);
		if (i < n)
			add_trace(fl, msgs, n, i + 1, fmt);
		break;
	case FR_BACKTRACE:
		i = find_from(msgs, n, 0, "backtrace:");
		if (i < n)
			add_trace(fl, msgs, n, i + 1, fmt);
		break;
	case FR_AT:
		i = find_from(msgs, n, 1, fmt->at_key);
		for (i = i + 1; i < n; i++) {
			const char *p = strstr(msgs[i], "at: ");
			if (!p)
				continue;
			p = skip_pcs(p + 4);
			if (!take_func(p, fn, sizeof(fn)))
				continue; /* "at: inode_lock include/linux/fs.h:756 [inline]" */
			add_frame(fl, fn, fmt);
			break;
		}
		break;
	default:
		return NULL;
	}
	if (fmt->extractor == EX_HUNG)
		return extract_hung(fl);
	if (fmt->extractor == EX_STALL)
		return extract_stall(fl);
	return fl->n ? fl->f[0] : NULL;
}

/* "Read"/"Write" of a KASAN report ("Read of size 8 at addr ..."). */
static const char *kasan_access(char **msgs, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		if (strstr(msgs[i], "Read of size") || strstr(msgs[i], "Read at addr"))
			return "Read";
		if (strstr(msgs[i], "Write of size") || strstr(msgs[i], "Write at addr"))
			return "Write";
	}
	return NULL;
}

static void append(char *out, size_t outsz, size_t *o, const char *s, size_t n)
{
	while (n-- && *s && *o + 1 < outsz)
		out[(*o)++] = *s++;
	out[*o] = '\0';
}

/* Title of the report msgs[0, n) for oops o; sets *corrupted. Like syzkaller, the format
 * whose pattern matches earliest in the report wins (ties: table order), so a header
 * line cut by interleaved output can still be recognised a line later. */
static void report_title(char *out, size_t outsz, const struct oops *o, char **msgs, size_t n,
			 int *corrupted)
{
	struct framelist *fl = NULL;
	const struct oops_fmt *f = NULL;
	regmatch_t m[6];
	const char *hdr = n ? msgs[0] : "", *frame = NULL, *access = NULL;
	size_t at = 0, w = 0;

	*corrupted = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && !f; i++)
		for (size_t k = 0; k < o->nfmts && !f; k++) {
			if (regexec(&o->fmts[k].rx, msgs[i], 6, m, 0) != 0)
				continue;
			if (strstr(o->fmts[k].title, "%A") &&
			    !(access = kasan_access(msgs + i, n - i)))
				continue; /* falls to the corrupted "KASAN: ..." format */
			f = &o->fmts[k];
			at = i;
		}
	if (!f) { /* no format: the header line from the header on */
		const char *p = strstr(hdr, o->header);
		append(out, outsz, &w, p ? p : hdr, (size_t)-1);
		*corrupted = 1;
		return;
	}
	hdr = msgs[at];
	if (strstr(f->title, "%F")) {
		fl = malloc(sizeof(*fl));
		if (fl)
			frame = report_frame(fl, f, msgs + at, n - at, m);
		if (!frame) {
			frame = "corrupted";
			*corrupted = 1;
		}
	}
	for (const char *t = f->title; *t; t++) {
		if (t[0] == '%' && t[1] >= '1' && t[1] <= '3') {
			const regmatch_t *g = &m[t[1] - '0'];
			if (g->rm_so >= 0)
				append(out, outsz, &w, hdr + g->rm_so,
				       (size_t)(g->rm_eo - g->rm_so));
			t++;
		} else if (t[0] == '%' && t[1] == 'F') {
			append(out, outsz, &w, frame, (size_t)-1);
			t++;
		} else if (t[0] == '%' && t[1] == 'A') {
			append(out, outsz, &w, access, (size_t)-1);
			t++;
		} else {
			append(out, outsz, &w, t, 1);
		}
	}
	*corrupted |= f->corrupted;
	free(fl);
}

/* ------------------------------------------------------------------------------------ */
/* Normalisation                                                                         */

/* Replace every match of r in s (a buffer of sz bytes) until nothing changes. */
static void replace_all(char *s, size_t sz, const struct repl *r)
{
	char *tmp = malloc(sz);
	if (!tmp)
		return;
	for (int round = 0; round < 32; round++) {
		size_t o = 0;
		const char *p = s;
		int eflags = 0;
		regmatch_t m[4];

		tmp[0] = '\0';
		while (*p && regexec(&r->rx, p, 4, m, eflags) == 0) {
			size_t so = (size_t)m[0].rm_so, eo = (size_t)m[0].rm_eo;
			append(tmp, sz, &o, p, so);
			for (const char *w = r->with; *w; w++) {
				if (w[0] == '\\' && w[1] >= '1' && w[1] <= '3') {
					const regmatch_t *g = &m[w[1] - '0'];
					if (g->rm_so >= 0)
						append(tmp, sz, &o, p + g->rm_so,
						       (size_t)(g->rm_eo - g->rm_so));
					w++;
				} else {
					append(tmp, sz, &o, w, 1);
				}
			}
			if (eo == 0) { /* empty match: copy one byte to make progress */
				append(tmp, sz, &o, p, 1);
				eo = 1;
			}
			p += eo;
			eflags = REG_NOTBOL;
		}
		append(tmp, sz, &o, p, (size_t)-1);
		if (strcmp(tmp, s) == 0)
			break;
		memcpy(s, tmp, o + 1);
	}
	free(tmp);
}

int kb_report_normalize_title(char *out, size_t outsz, const char *title)
{
	char buf[KB_REPORT_TITLE_MAX * 2];
	size_t o = 0;
	char prev = ' ';
	int rc;

	if (!out || !title || outsz == 0)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL,
				     "kb_report_normalize_title: NULL title or empty output "
				     "buffer; pass a title and a buffer of at least 1 byte");
	if ((rc = ensure_init()) < 0)
		return rc;
	/* sanitise first (tabs, control and non-ASCII bytes, repeated spaces) */
	for (const char *p = title; *p && o + 1 < sizeof(buf) && o < TITLE_MAX_LEN * 2; p++) {
		char c = *p;
		if (c == '\t')
			c = ' ';
		if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
			continue;
		if (c == ' ' && prev == ' ')
			continue;
		buf[o++] = c;
		prev = c;
	}
	buf[o] = '\0';
	for (size_t i = 0; i < NREPLS; i++)
		replace_all(buf, sizeof(buf), &title_repls[i]);
	/* cut at syzkaller's 120 characters, trim, collapse spaces again */
	o = 0;
	prev = ' ';
	for (const char *p = buf; *p && o < TITLE_MAX_LEN && o + 1 < outsz; p++) {
		if (*p == ' ' && prev == ' ')
			continue;
		out[o++] = *p;
		prev = *p;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return 0;
}

int kb_report_title_is_infra(const char *title)
{
	static const char *const prefixes[] = { "SYZFAIL:", "SYZFATAL:",
						"lost connection to test machine",
						"no output from test machine", "test machine failure",
						NULL };
	if (!title)
		return 0;
	for (size_t i = 0; prefixes[i]; i++)
		if (!strncmp(title, prefixes[i], strlen(prefixes[i])))
			return 1;
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Parse and classify                                                                    */

void kb_report_free(kb_report *r)
{
	if (!r)
		return;
	free(r->report);
	memset(r, 0, sizeof(*r));
}

static int set_report_text(kb_report *out, const char *s, size_t n)
{
	out->report = malloc(n + 1);
	if (!out->report)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory copying a %zu-byte crash "
				    "report; free memory and retry", n);
	memcpy(out->report, s, n);
	out->report[n] = '\0';
	return 0;
}

/* The first SYZFAIL/SYZFATAL line of ls as a title; 1 if found. */
static int find_infra_lines(char *title, size_t tsz, const struct lines *ls)
{
	for (size_t i = 0; i < ls->n; i++) {
		const char *p = infra_marker(ls->v[i].msg);
		if (p) {
			snprintf(title, tsz, "%s", p);
			return 1;
		}
	}
	return 0;
}

/* The same for a raw buffer (the program's own output); 1, 0 or a negative error. */
static int find_infra(char *title, size_t tsz, const char *buf, size_t len)
{
	struct lines ls;
	int found, rc;

	if (!buf || len == 0)
		return 0;
	if ((rc = lines_split(&ls, buf, len)) < 0)
		return rc;
	found = find_infra_lines(title, tsz, &ls);
	lines_free(&ls);
	return found;
}

static int parse_crash(kb_report *out, struct lines *lsp, int *found)
{
	struct lines ls = *lsp;
	size_t s = 0, n = 0, text_lines = 0, last = 0, sz = 0;
	struct oops *o = NULL;
	char **msgs = NULL;
	char raw[KB_REPORT_TITLE_MAX];
	const char *ctx;
	int corrupted = 0, rc;

	*found = 0;
	for (s = 0; s < ls.n; s++)
		if ((o = match_oops(ls.v[s].msg)))
			break;
	if (!o)
		return 0;
	ctx = ls.v[s].ctx;
	msgs = calloc(REPORT_MAX_LINES, sizeof(*msgs));
	if (!msgs)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory parsing a crash report; free "
				    "memory and retry");
	for (size_t i = s; i < ls.n && n < REPORT_MAX_LINES; i++) {
		struct line *l = &ls.v[i];
		if (i > s && (!ctx[0] || !strcmp(ctx, "console")) && match_oops(l->msg) &&
		    !line_has_any(l->msg, report_start_ignores))
			break; /* a second report (with caller ids, only our task's lines count) */
		if (i > s && (strcmp(l->ctx, ctx) != 0 || l->questionable))
			continue; /* another CPU or task, or an unreliable frame */
		if (i > s && strstr(l->msg, "Disabling lock debugging due to kernel taint"))
			continue;
		text_lines++;
		if (i > s && text_lines > 22 && strstr(l->msg, "Kernel panic - not syncing"))
			break; /* the panic_on_warn/oops=panic tail repeats the stack */
		msgs[n++] = (char *)l->msg;
		last = i;
		if (strstr(l->msg, "---[ end Kernel panic"))
			break;
	}
	report_title(raw, sizeof(raw), o, msgs, n, &corrupted);
	rc = kb_report_normalize_title(out->title, sizeof(out->title), raw);
	if (rc == 0) {
		out->klass = KB_RUN_CRASH;
		out->start = ls.v[s].off;
		out->end = ls.v[last].next;
		out->corrupted = corrupted;
		for (size_t i = 0; i < n; i++)
			sz += strlen(msgs[i]) + 1;
		out->report = malloc(sz + 1);
		if (!out->report) {
			rc = kb_error_set(KB_ERRCLASS_OS, "out of memory copying a crash report; "
					  "free memory and retry");
		} else {
			size_t w = 0;
			for (size_t i = 0; i < n; i++) {
				size_t k = strlen(msgs[i]);
				memcpy(out->report + w, msgs[i], k);
				w += k;
				out->report[w++] = '\n';
			}
			out->report[w] = '\0';
			*found = 1;
		}
	}
	free(msgs);
	return rc;
}

int kb_report_parse(kb_report *out, const char *console, size_t len, const kb_report_ctx *ctx)
{
	static const kb_report_ctx clean_exit = { 0 };
	char title[KB_REPORT_TITLE_MAX];
	struct lines ls;
	int found = 0, rc, f;

	if (!out)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL,
				     "kb_report_parse: NULL output; pass a kb_report to fill");
	memset(out, 0, sizeof(*out));
	if (!console && len > 0)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL,
				     "kb_report_parse: NULL console with length %zu; pass the "
				     "console text or a length of 0", len);
	if (!ctx)
		ctx = &clean_exit;
	if ((rc = ensure_init()) < 0)
		return rc;

	/* 1. a kernel crash report wins */
	if ((rc = lines_split(&ls, console ? console : "", len)) < 0)
		return rc;
	if ((rc = parse_crash(out, &ls, &found)) < 0) {
		lines_free(&ls);
		kb_report_free(out);
		return rc;
	}
	if (found) {
		lines_free(&ls);
		return 0;
	}

	/* 2. infrastructure: SYZFAIL/SYZFATAL, lost connection, QEMU, no output */
	title[0] = '\0';
	f = find_infra_lines(title, sizeof(title), &ls);
	lines_free(&ls);
	if (!f && (f = find_infra(title, sizeof(title), ctx->prog_output,
				  ctx->prog_output_len)) < 0)
		return f;
	if (!title[0]) {
		switch (ctx->end) {
		case KB_REPORT_END_LOST_CONN:
			snprintf(title, sizeof(title), "lost connection to test machine");
			break;
		case KB_REPORT_END_QEMU_DIED:
			snprintf(title, sizeof(title), "test machine failure: qemu exited");
			break;
		case KB_REPORT_END_NO_OUTPUT:
			snprintf(title, sizeof(title), "no output from test machine");
			break;
		default:
			break;
		}
	}
	if (title[0]) {
		out->klass = KB_RUN_INFRA;
		return kb_report_normalize_title(out->title, sizeof(out->title), title);
	}

	/* 3. boot failure: keep the console tail as the report */
	if (ctx->end == KB_REPORT_END_NO_BOOT) {
		out->klass = KB_RUN_BOOT_FAILURE;
		out->start = len > BOOT_TAIL ? len - BOOT_TAIL : 0;
		out->end = len;
		if (len > 0 && (rc = set_report_text(out, console + out->start, len - out->start)))
			return rc;
		return 0;
	}

	/* 4. ok */
	out->klass = KB_RUN_OK;
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Streaming scanner                                                                     */

struct kb_report_scanner {
	char line[LINE_MAX_MATCH + 1]; /* the current partial line, cleaned lazily */
	size_t len;                    /* raw bytes buffered (capped at LINE_MAX_MATCH) */
	int state;                     /* kb_report_scan_state */
	size_t after;                  /* lines since the oops header */
	int bracketed;                 /* sanitizer report: ends with a "=====" line */
};

int kb_report_scanner_new(kb_report_scanner **out)
{
	int rc;
	if (!out)
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL,
				     "kb_report_scanner_new: NULL output pointer");
	if ((rc = ensure_init()) < 0)
		return rc;
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return kb_error_set(KB_ERRCLASS_OS, "out of memory creating a console scanner");
	return 0;
}

static void scan_line(kb_report_scanner *s)
{
	char clean[LINE_MAX_MATCH + 1], ctx[16];
	const char *msg;

	clean_line(clean, s->line, s->len);
	s->len = 0;
	msg = strip_prefix(clean, ctx);
	if (s->state == KB_SCAN_DONE)
		return;
	if (infra_marker(msg)) {
		s->state = KB_SCAN_DONE;
		return;
	}
	if (s->state == KB_SCAN_QUIET) {
		if (match_oops(msg)) {
			s->state = KB_SCAN_STARTED;
			s->after = 0;
			s->bracketed = strstr(msg, "KASAN:") || strstr(msg, "UBSAN:") ||
				       strstr(msg, "KFENCE:") || strstr(msg, "KMSAN:") ||
				       strstr(msg, "KCSAN:");
		}
		return;
	}
	s->after++;
	if (s->bracketed && !strncmp(msg, "==========================================", 42)) {
		s->state = KB_SCAN_DONE;
		return;
	}
	if (strstr(msg, "---[ end trace") || strstr(msg, "---[ end Kernel panic") ||
	    strstr(msg, "Kernel panic - not syncing") || strstr(msg, "Rebooting in ") ||
	    s->after >= SCAN_DONE_LINES)
		s->state = KB_SCAN_DONE;
}

int kb_report_scan_chunk(kb_report_scanner *s, const char *buf, size_t len)
{
	if (!s || (!buf && len > 0))
		return kb_error_setc(KB_EINVAL, KB_ERRCLASS_VMPOOL,
				     "kb_report_scan_chunk: NULL scanner or buffer");
	for (size_t i = 0; i < len && s->state != KB_SCAN_DONE; i++) {
		if (buf[i] == '\n') {
			scan_line(s);
			continue;
		}
		if (s->len < LINE_MAX_MATCH)
			s->line[s->len++] = buf[i];
	}
	return s->state;
}

void kb_report_scanner_free(kb_report_scanner *s)
{
	free(s);
}
