/*
 * report/report_linux.c - the Linux oops table: which console lines start a crash report
 * and how each kind of report is titled.
 * Owns: the oops headers and their suppressions, the title formats (pattern of the title
 * line, optional pattern giving the arguments, the title and ALT-title templates, where
 * the guilty frame is found), the frames never used in titles, the syscall prefixes
 * stripped from frames, the stall anchors, the headers that do not start a second report.
 * Not: applying the table (report_titles.c, report_frames.c).
 * The rules follow the kernel's own report formats as syzkaller's pkg/report/linux.go
 * titles them (so titles compare equal to syzbot's); the notation of patterns is the one
 * described in report_internal.h.
 */
#include <stddef.h>

#include "report/report_internal.h"

/* Where a faulting instruction is named: "RIP: 0010:func+0x1/0x2", "IP: [<pc>] func",
 * "pc : func+0x", "PC is at func+0x"; a bare address or "(null)" matches without a frame. */
#define RIP                                                                                  \
	"(?:IP|NIP|pc |PC is at):? (?:(?:[0-9]+:)?(?:{{PC}} +){0,2}{{FUNC}}|(?:[0-9]+:)?0x[0-9a-f]+" \
	"|(?:[0-9]+:)?{{PC}} +\\[< *\\(null\\)>\\] +\\(null\\)|[0-9]+: +\\(null\\))"
#define CALLTRACE "(?:Call (?:T|t)race:)|(?:Backtrace:)"
#define PARSE PART_PARSE

#define ST(...) (&(struct stack_fmt){ __VA_ARGS__ })
#define RIP_TRACE .parts = { RIP, CALLTRACE, PARSE }
#define TRACE .parts = { CALLTRACE, PARSE }
#define SKIP(...) .skip = { __VA_ARGS__, NULL }
/* A WARNING's stack starts at its RIP line (x86) or "--- interrupt:" (powerpc); older
 * kernels print only a call trace. */
#define WARN_PARTS                                                                          \
	.parts = { "(?:" RIP "|--- interrupt: [0-9]+ at {{FUNC}})", PARSE },               \
	.parts2 = { CALLTRACE, PARSE }
#define WARN_STACK(...) ST(WARN_PARTS, SKIP(__VA_ARGS__))
#define WARN_STACK0 ST(WARN_PARTS)
#define KFENCE_STACK ST(.parts = { "BUG: KFENCE: (?:[a-z -]+) in {{FUNC}}", PARSE })
#define KMSAN_PARTS                                                                         \
	.parts = { PARSE, "(Local variable .* created at:|Uninit was created at:)", PARSE }

static struct oops_fmt bug_fmts[] = {
	{ .title = "BUG: KASAN:",
	  .report = "BUG: KASAN: ([a-z-]+) in {{FUNC}}\n(Read|Write) (?:of size|at addr) [0-9a-f]+",
	  .fmt = "KASAN: %1 %3 in %4", .alt = { "bad-access in %4" },
	  .stack = ST(.parts = { "BUG: KASAN: (?:[a-z-]+) in {{FUNC}}", CALLTRACE, PARSE },
		      SKIP("kernel_fault", "tag_check", "mem_abort", "^el1_", "^el1h_")) },
	{ .title = "BUG: KASAN:",
	  .report = "BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in "
		    "{{FUNC}}",
	  .fmt = "KASAN: invalid-free in %2", .alt = { "invalid-free in %2" },
	  .stack = ST(.parts = { "BUG: KASAN: (?:double-free or invalid-free|double-free"
				 "|invalid-free) in {{FUNC}}", CALLTRACE, PARSE },
		      SKIP("slab_", "kfree", "vunmap", "vfree")) },
	{ .title = "BUG: KASAN: ([a-z-]+) on address\n(Read|Write) of size ([0-9]+)",
	  .fmt = "KASAN: %1 %2" },
	{ .title = "BUG: KASAN: (.*)", .fmt = "KASAN: %1", .corrupted = 1 },
	{ .title = "BUG: KMSAN: kernel-usb-infoleak",
	  .report = "BUG: KMSAN: kernel-usb-infoleak in {{FUNC}}",
	  .fmt = "KMSAN: kernel-usb-infoleak in %2", .alt = { "KMSAN origin in %3" },
	  .stack = ST(KMSAN_PARTS, SKIP("alloc_skb", "usb_submit_urb", "usb_start_wait_urb",
					"usb_bulk_msg", "usb_interrupt_msg", "usb_control_msg")),
	  .no_stack_trace = 1 },
	{ .title = "BUG: KMSAN:", .report = "BUG: KMSAN: ([a-z-]+) in {{FUNC}}",
	  .fmt = "KMSAN: %1 in %3", .alt = { "bad-access in %3" },
	  .stack = ST(KMSAN_PARTS, SKIP("alloc_skb", "netlink_ack", "netlink_rcv_skb",
					"_encrypt$", "^(?:crypto|cipher|drbg|rng)_")),
	  .no_stack_trace = 1 },
	{ .title = "BUG: KCSAN: data-race", .report = "BUG: KCSAN: (.*)", .fmt = "KCSAN: %1",
	  .no_stack_trace = 1 },
	{ .title = "BUG: KCSAN:", .report = "BUG: KCSAN: (.*)", .fmt = "KCSAN: %1",
	  .no_stack_trace = 1 },
	{ .title = "BUG: KFENCE: (use-after-free|out-of-bounds) (read|write) in {{FUNC}}",
	  .fmt = "KFENCE: %1 %2 in %4", .alt = { "bad-access in %4" }, .stack = KFENCE_STACK },
	{ .title = "BUG: KFENCE: invalid free in {{FUNC}}", .fmt = "KFENCE: invalid free in %2",
	  .alt = { "invalid-free in %2" }, .no_stack_trace = 1, .stack = KFENCE_STACK },
	{ .title = "BUG: KFENCE: invalid (read|write) in {{FUNC}}",
	  .fmt = "KFENCE: invalid %1 in %3", .alt = { "bad-access in %3" },
	  .stack = KFENCE_STACK },
	{ .title = "BUG: KFENCE: memory corruption in {{FUNC}}",
	  .fmt = "KFENCE: memory corruption in %2", .no_stack_trace = 1, .stack = KFENCE_STACK },
	{ .title = "BUG: (?:unable to handle kernel paging request|unable to handle page fault "
		   "for address|Unable to handle kernel data access)",
	  .fmt = "BUG: unable to handle kernel paging request in %1",
	  .alt = { "bad-access in %1" }, .stack = ST(RIP_TRACE) },
	{ .title = "BUG: (?:unable to handle kernel NULL pointer dereference|kernel NULL pointer "
		   "dereference|Kernel NULL pointer dereference)",
	  .fmt = "BUG: unable to handle kernel NULL pointer dereference in %1",
	  .alt = { "bad-access in %1" }, .stack = ST(RIP_TRACE) },
	{ .title = "BUG: (?:unable to handle kernel|Unable to handle kernel)",
	  .fmt = "BUG: unable to handle kernel", .corrupted = 1 },
	{ .title = "BUG: (spinlock|rwlock) (lockup suspected|already unlocked|recursion"
		   "|cpu recursion|bad magic|wrong owner|wrong CPU|trylock failure on UP)",
	  .fmt = "BUG: %1 %2 in %3", .stack = ST(TRACE, SKIP("spin_", "_lock", "_unlock")) },
	{ .title = "BUG: soft lockup", .fmt = "BUG: soft lockup in %1", .alt = { "stall in %1" },
	  .stack = ST(RIP_TRACE, .extractor = EX_STALL) },
	{ .title = "BUG: .*still has locks held!",
	  .report = "BUG: .*still has locks held!\n{{PC}} +{{FUNC}}",
	  .fmt = "BUG: still has locks held in %1" },
	{ .title = "BUG: scheduling while atomic", .fmt = "BUG: scheduling while atomic in %1",
	  .stack = ST(TRACE, SKIP("schedule")) },
	{ .title = "BUG: lock held when returning to user space",
	  .report = "BUG: lock held when returning to user space\nleaving the kernel with locks "
		    "still held\nat: (?:{{PC}} +)?{{FUNC}}",
	  .fmt = "BUG: lock held when returning to user space in %1", .no_stack_trace = 1 },
	{ .title = "BUG: bad unlock balance detected!", .fmt = "BUG: bad unlock balance in %1",
	  .stack = ST(.parts = { "{{PC}} +{{FUNC}}", CALLTRACE, PARSE }) },
	{ .title = "BUG: held lock freed!", .report = "BUG: held lock freed!\n{{PC}} +{{FUNC}}",
	  .fmt = "BUG: held lock freed in %1" },
	{ .title = "BUG: Bad rss-counter state", .fmt = "BUG: Bad rss-counter state",
	  .no_stack_trace = 1 },
	{ .title = "BUG: non-zero nr_ptes on freeing mm",
	  .fmt = "BUG: non-zero nr_ptes on freeing mm", .no_stack_trace = 1 },
	{ .title = "BUG: non-zero nr_pmds on freeing mm",
	  .fmt = "BUG: non-zero nr_pmds on freeing mm", .no_stack_trace = 1 },
	/* the file system type and block device are left out: they only split one bug */
	{ .title = "BUG: Dentry .* still in use",
	  .report = "BUG: Dentry .* still in use \\([0-9]+\\) \\[(unmount) of ([^]]+)\\]",
	  .fmt = "BUG: Dentry still in use in %1", .alt = { "BUG: Dentry still in use [%1 of %2]" } },
	{ .title = "BUG: Bad page (state|cache)", .fmt = "BUG: Bad page %1 in %2",
	  .stack = ST(.parts = { "page last allocated", PARSE },
		      SKIP("(free|put|get|update|release)_page", "free_unref", "^_*folio",
			   "truncate_inode_pages", "page_frag_free", "alloc", "vmap",
			   "page_owner")) },
	{ .title = "BUG: Bad page map", .fmt = "BUG: Bad page map" },
	{ .title = "BUG: workqueue lockup", .fmt = "BUG: workqueue lockup", .no_stack_trace = 1 },
	{ .title = "BUG: sleeping function called from invalid context at (.*)",
	  .fmt = "BUG: sleeping function called from invalid context in %2", .stack = ST(TRACE) },
	{ .title = "BUG: using ([a-z_]+)\\(\\) in preemptible",
	  .fmt = "BUG: using %1() in preemptible code in %2",
	  .stack = ST(TRACE, SKIP("dump_stack", "preemption", "preempt", "debug_",
				  "processor_id", "this_cpu")) },
	{ .title = "BUG: workqueue leaked lock or atomic",
	  .report = "BUG: workqueue leaked lock or atomic\nlast function: ([a-zA-Z0-9_]+)$",
	  .fmt = "BUG: workqueue leaked lock or atomic in %1", .no_stack_trace = 1 },
	{ .title = "BUG: memory leak", .fmt = "memory leak in %1",
	  .stack = ST(.parts = { "backtrace(?: \\(crc [[:xdigit:]]*\\))?:", PARSE },
		      SKIP("kmemleak", "mmap", "kmem", "slab", "alloc", "create_object",
			   "idr_get", "list_lru_init", "kasprintf", "kvasprintf", "pcpu_create",
			   "strdup", "strndup", "memdup")) },
	{ .title = "BUG: .*stack guard page was hit at",
	  .fmt = "BUG: stack guard page was hit in %1", .alt = { "stack-overflow in %1" },
	  .stack = ST(RIP_TRACE, .extractor = EX_STALL) },
	/* arm/arm64 print this where x86 prints a lockdep WARNING: one title for both */
	{ .title = "BUG: Invalid wait context", .fmt = "WARNING: locking bug in %1",
	  .stack = ST(TRACE, SKIP("lock_sock", "release_sock")) },
	{ .title = "BUG:[[:space:]]*$", .fmt = "BUG: corrupted", .corrupted = 1 },
};

static struct oops_fmt warning_fmts[] = {
	{ .title = "WARNING: .*lib/debugobjects\\.c.* (?:debug_print|debug_check|at)",
	  .fmt = "WARNING: ODEBUG bug in %1",
	  .stack = WARN_STACK("debug_", "rcu", "hrtimer_", "timer_", "work_", "percpu_",
			      "vunmap", "vfree", "__free_", "debug_check", "kobject_") },
	{ .title = "WARNING: .*mm/usercopy\\.c.* (?:usercopy_warn|at)",
	  .fmt = "WARNING: bad usercopy in %1", .stack = WARN_STACK("usercopy", "__check") },
	{ .title = "WARNING: .*lib/kobject\\.c.* (?:kobject_|at)", .fmt = "WARNING: kobject bug in %1",
	  .stack = WARN_STACK("kobject_") },
	{ .title = "WARNING: .*fs/proc/generic\\.c.* (?:proc_register|at)",
	  .fmt = "WARNING: proc registration bug in %1", .stack = WARN_STACK("proc_") },
	{ .title = "WARNING: .*lib/refcount\\.c.* (?:refcount_|at)",
	  .fmt = "WARNING: refcount bug in %1", .stack = WARN_STACK("refcount", "kobject_") },
	{ .title = "WARNING: .*kernel/locking/lockdep\\.c.*lock_",
	  .fmt = "WARNING: locking bug in %1", .stack = WARN_STACK("lock_sock", "release_sock") },
	{ .title = "WARNING: .*still has locks held!",
	  .report = "WARNING: .*still has locks held!\nat: {{FUNC}}",
	  .fmt = "WARNING: still has locks held in %1" },
	{ .title = "WARNING: Nested lock was not taken",
	  .fmt = "WARNING: nested lock was not taken in %1", .stack = WARN_STACK0 },
	{ .title = "WARNING: lock held when returning to user space",
	  .report = "WARNING: lock held when returning to user space\nleaving the kernel with "
		    "locks still held\nat: (?:{{PC}} +)?{{FUNC}}",
	  .fmt = "WARNING: lock held when returning to user space in %1", .no_stack_trace = 1 },
	{ .title = "WARNING: .*mm/.*\\.c.* k?.?malloc", .fmt = "WARNING: kmalloc bug in %1",
	  .stack = WARN_STACK("kmalloc", "krealloc", "slab", "kmem") },
	{ .title = "WARNING: .*mm/vmalloc.c.*__vmalloc_node",
	  .fmt = "WARNING: zero-size vmalloc in %1", .stack = WARN_STACK0 },
	{ .title = "WARNING: .* usb_submit_urb", .fmt = "WARNING in %1/usb_submit_urb",
	  .stack = WARN_STACK("usb_submit_urb", "usb_start_wait_urb", "usb_bulk_msg",
			      "usb_interrupt_msg", "usb_control_msg") },
	/* 6.x: "WARNING: fs/x.c:12 at 0x0, CPU#0: ..." and "WARNING: fs/x.c:12 at func+0x..." */
	{ .title = "WARNING: {{SRC}} at 0x[0-9]+, CPU#[0-9]+", .fmt = "WARNING in %2",
	  .stack = WARN_STACK0 },
	{ .title = "WARNING: .* at {{SRC}} {{FUNC}}", .fmt = "WARNING in %3", .stack = WARN_STACK0 },
	{ .title = "WARNING: {{SRC}} at {{FUNC}}", .fmt = "WARNING in %3", .stack = WARN_STACK0 },
	{ .title = "WARNING: \\[.*\\] {{SRC}} at {{FUNC}}.*", .fmt = "WARNING in %3",
	  .stack = WARN_STACK0 },
	{ .title = "WARNING: possible circular locking dependency detected",
	  .report = "WARNING: possible circular locking dependency detected\nis trying to "
		    "acquire lock",
	  .fmt = "possible deadlock in %1",
	  .stack = ST(.parts = { "at: (?:{{PC}} +)?{{FUNC}}", "at: (?:{{PC}} +)?{{FUNC}}", PARSE },
		      SKIP("process_one_work", "flush_workqueue", "drain_workqueue",
			   "destroy_workqueue")) },
	{ .title = "WARNING: possible irq lock inversion dependency detected",
	  .report = "WARNING: possible irq lock inversion dependency detected\njust changed the "
		    "state of lock\nat: (?:{{PC}} +)?{{FUNC}}",
	  .fmt = "possible deadlock in %1" },
	{ .title = "WARNING: .*-safe -> .*-unsafe lock order detected",
	  .fmt = "possible deadlock in %1",
	  .stack = ST(.parts = { "which became (?:.*) at:", PARSE }) },
	{ .title = "WARNING: possible recursive locking detected",
	  .report = "WARNING: possible recursive locking detected\nis trying to acquire lock\n"
		    "at: (?:{{PC}} +)?{{FUNC}}",
	  .fmt = "possible deadlock in %1" },
	/* lockdep's own frames (valid_state, mark_lock_irq) and the socket lock wrappers
	 * come before the function that took the lock */
	{ .title = "WARNING: inconsistent lock state",
	  .report = "WARNING: inconsistent lock state\ntakes\nat: (?:{{PC}} +)?{{FUNC}}",
	  .fmt = "inconsistent lock state in %2",
	  .stack = ST(TRACE, SKIP("valid_state", "lock_sock", "release_sock")) },
	{ .title = "WARNING: suspicious RCU usage", .report = "WARNING: suspicious RCU usage\n{{SRC}}",
	  .fmt = "WARNING: suspicious RCU usage in %2",
	  .stack = ST(TRACE, SKIP("rcu", "kmem", "slab")) },
	{ .title = "WARNING: kernel stack regs at [0-9a-f]+ in [^ ]* has bad '([^']+)' value",
	  .fmt = "WARNING: kernel stack regs has bad '%1' value", .no_stack_trace = 1 },
	{ .title = "WARNING: kernel stack frame pointer at [0-9a-f]+ in [^ ]* has bad value",
	  .fmt = "WARNING: kernel stack frame pointer has bad value", .no_stack_trace = 1 },
	{ .title = "WARNING: bad unlock balance detected!", .fmt = "WARNING: bad unlock balance in %1",
	  .stack = ST(.parts = { "{{PC}} +{{FUNC}}", CALLTRACE, PARSE }) },
	{ .title = "WARNING: held lock freed!",
	  .report = "WARNING: held lock freed!\nat:(?: {{PC}})? +{{FUNC}}",
	  .fmt = "WARNING: held lock freed in %1" },
	{ .title = "WARNING: kernel stack regs .* has bad 'bp' value",
	  .fmt = "WARNING: kernel stack regs has bad value", .no_stack_trace = 1 },
	{ .title = "WARNING: kernel stack frame pointer .* has bad value",
	  .fmt = "WARNING: kernel stack regs has bad value", .no_stack_trace = 1 },
	{ .title = "WARNING:[[:space:]]*$", .fmt = "WARNING: corrupted", .corrupted = 1 },
};

static struct oops_fmt info_fmts[] = {
	{ .title = "INFO: possible circular locking dependency detected",
	  .report = "INFO: possible circular locking dependency detected \\]\nis trying to acquire "
		    "lock\nat: {{PC}} +{{FUNC}}",
	  .fmt = "possible deadlock in %1" },
	{ .title = "INFO: possible irq lock inversion dependency detected",
	  .report = "INFO: possible irq lock inversion dependency detected \\]\njust changed the "
		    "state of lock\nat: {{PC}} +{{FUNC}}",
	  .fmt = "possible deadlock in %1" },
	{ .title = "INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected",
	  .report = "INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected \\]\nis trying to "
		    "acquire\nat: {{PC}} +{{FUNC}}",
	  .fmt = "possible deadlock in %1" },
	{ .title = "INFO: possible recursive locking detected",
	  .report = "INFO: possible recursive locking detected \\]\nis trying to acquire lock\n"
		    "at: {{PC}} +{{FUNC}}",
	  .fmt = "possible deadlock in %1" },
	{ .title = "INFO: inconsistent lock state",
	  .report = "INFO: inconsistent lock state \\]\ntakes\nat: {{PC}} +{{FUNC}}",
	  .fmt = "inconsistent lock state in %1" },
	{ .title = "INFO: rcu_(?:preempt|sched|bh) (?:self-)?detected(?: expedited)? stall",
	  .fmt = "INFO: rcu detected stall in %1", .alt = { "stall in %1" },
	  .stack = ST(.parts = { "apic_timer_interrupt", RIP, PARSE },
		      .parts2 = { "(?:apic_timer_interrupt|Exception stack|el1h_64_irq)", PARSE },
		      SKIP("apic_timer_interrupt", "rcu"), .extractor = EX_STALL) },
	{ .title = "INFO: rcu_tasks detected stalls? on tasks", .fmt = "INFO: rcu detected stall in %1",
	  .alt = { "stall in %1" },
	  .stack = ST(TRACE, SKIP("apic_timer_interrupt", "rcu"), .extractor = EX_STALL) },
	{ .title = "INFO: trying to register non-static key",
	  .fmt = "INFO: trying to register non-static key in %1",
	  .stack = ST(TRACE, SKIP("stack", "lock", "IRQ")) },
	{ .title = "INFO: suspicious RCU usage", .report = "INFO: suspicious RCU usage\n{{SRC}}",
	  .fmt = "INFO: suspicious RCU usage in %2",
	  .stack = ST(TRACE, SKIP("rcu", "kmem", "slab")) },
	{ .title = "INFO: task .* blocked (?:in I/O wait )?for more than [0-9]+ seconds",
	  .fmt = "INFO: task hung in %1", .alt = { "hang in %1" },
	  .stack = ST(TRACE, .extractor = EX_HUNG) },
	/* a task name holding a newline splits the header in two printk records */
	{ .title = "INFO: task .*\r.* blocked (?:in I/O wait )?for more than [0-9]+ seconds",
	  .fmt = "INFO: task hung in %1", .alt = { "hang in %1" },
	  .stack = ST(TRACE, .extractor = EX_HUNG) },
	{ .title = "INFO: task .* can't die for more than .* seconds",
	  .fmt = "INFO: task can't die in %1", .alt = { "hang in %1" },
	  .stack = ST(TRACE, SKIP("schedule")) },
	/* corrupted old-style KASAN reports */
	{ .title = "INFO: (Freed|Allocated) in (.*)", .fmt = "INFO: %1 in %2", .corrupted = 1 },
	{ .title = "INFO:[[:space:]]*$", .fmt = "INFO: corrupted", .corrupted = 1 },
};

static struct oops_fmt unable_fmts[] = {
	{ .title = "Unable to handle kernel (paging request|NULL pointer dereference|access to "
		   "user memory)",
	  .fmt = "BUG: unable to handle kernel %1 in %2", .alt = { "bad-access in %2" },
	  .stack = ST(RIP_TRACE) },
};

static struct oops_fmt gpf_fmts[] = {
	{ .title = "general protection fault.*:", .fmt = "general protection fault in %1",
	  .alt = { "bad-access in %1" }, .stack = ST(RIP_TRACE) },
};

static struct oops_fmt stack_segment_fmts[] = {
	{ .title = "stack segment: ", .fmt = "stack segment fault in %1", .stack = ST(RIP_TRACE) },
};

static struct oops_fmt panic_fmts[] = {
	{ .title = "Kernel panic - not syncing: stack-protector:",
	  .report = "Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: "
		    "{{FUNC}}",
	  .fmt = "kernel panic: stack is corrupted in %1", .no_stack_trace = 1 },
	{ .title = "Kernel panic - not syncing: stack-protector:",
	  .report = "Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: "
		    "[a-f0-9]+",
	  .fmt = "kernel panic: stack is corrupted in %1", .stack = ST(TRACE, SKIP("stack_chk")) },
	{ .title = "Kernel panic - not syncing: corrupted stack end",
	  .report = "Kernel panic - not syncing: corrupted stack end detected inside scheduler",
	  .fmt = "kernel panic: corrupted stack end in %1", .alt = { "stack-overflow in %1" },
	  .stack = ST(TRACE, SKIP("schedule", "retint_kernel"), .extractor = EX_STALL) },
	{ .title = "Kernel panic - not syncing: kernel stack overflow",
	  .fmt = "kernel stack overflow in %1", .alt = { "stack-overflow in %1" },
	  .stack = ST(TRACE, SKIP("bad_stack"), .extractor = EX_STALL) },
	{ .title = "Kernel panic - not syncing: Attempted to kill init!",
	  .fmt = "kernel panic: Attempted to kill init!" },
	{ .title = "Kernel panic - not syncing: Couldn't open N_TTY ldisc for [^ ]+ --- error "
		   "-[0-9]+",
	  .fmt = "kernel panic: Couldn't open N_TTY ldisc" },
	/* printed after a BUG/WARNING/hung task: as the title, the report lost its header */
	{ .title = "Kernel panic - not syncing: Fatal exception",
	  .fmt = "kernel panic: Fatal exception", .corrupted = 1 },
	{ .title = "Kernel panic - not syncing: panic_on_warn set",
	  .fmt = "kernel panic: panic_on_warn set", .corrupted = 1 },
	{ .title = "Kernel panic - not syncing: hung_task: blocked tasks",
	  .fmt = "kernel panic: hung_task: blocked tasks", .corrupted = 1 },
	{ .title = "Kernel panic - not syncing: (.*)", .fmt = "kernel panic: %1" },
};

static struct oops_fmt double_fault_fmts[] = {
	{ .title = "PANIC: double fault", .fmt = "PANIC: double fault in %1",
	  .stack = ST(.parts = { RIP }) },
};

static struct oops_fmt rust_fmts[] = {
	{ .title = "rust_kernel: panicked", .report = "rust_kernel: panicked at .*\r(.+)",
	  .fmt = "%1 in %2", .stack = ST(TRACE, SKIP("__rustc::rust_begin_unwind")) },
};

static struct oops_fmt kernel_bug_fmts[] = {
	{ .title = "kernel BUG at mm/usercopy.c", .fmt = "BUG: bad usercopy in %1",
	  .stack = ST(TRACE, SKIP("usercopy", "__check")) },
	{ .title = "kernel BUG at lib/list_debug.c", .fmt = "BUG: corrupted list in %1",
	  .alt = { "bad-access in %1" }, .stack = ST(TRACE) },
	/* skb wrappers hold many BUG_ONs, but the bug is almost always in the caller */
	{ .title = "kernel BUG at (.*)", .fmt = "kernel BUG in %2",
	  .stack = ST(RIP_TRACE, SKIP("^skb_")) },
};

static struct oops_fmt kernel_bug2_fmts[] = {
	{ .title = "Kernel BUG (.*)", .fmt = "kernel BUG %1" },
};

static struct oops_fmt kmalloc_fmts[] = {
	{ .title = "BUG kmalloc-.*: Object already free", .fmt = "BUG: Object already free" },
};

static struct oops_fmt divide_fmts[] = {
	{ .title = "divide error: ", .fmt = "divide error in %1", .stack = ST(.parts = { RIP }) },
};

/* the spelling of x86's IDTENTRY conversion (5.8) */
static struct oops_fmt divide2_fmts[] = {
	{ .title = "divide_error: ", .fmt = "divide error in %1", .stack = ST(.parts = { RIP }) },
};

static struct oops_fmt opcode_fmts[] = {
	{ .title = "invalid opcode: ", .fmt = "invalid opcode in %1", .stack = ST(.parts = { RIP }) },
};

static struct oops_fmt int3_fmts[] = {
	{ .title = "int3: ", .fmt = "int3 in %1", .stack = ST(RIP_TRACE) },
};

static struct oops_fmt ubsan_fmts[] = {
	{ .title = "UBSAN:", .report = "UBSAN: Undefined behaviour in",
	  .fmt = "UBSAN: undefined-behaviour in %1", .stack = ST(TRACE, SKIP("ubsan", "overflow")) },
	{ .title = "UBSAN: array-index-out-of-bounds in",
	  .fmt = "UBSAN: array-index-out-of-bounds in %1", .alt = { "bad-access in %1" },
	  .stack = ST(TRACE, SKIP("ubsan", "overflow")) },
	{ .title = "UBSAN:", .report = "UBSAN: ([^ ]+) in", .fmt = "UBSAN: %1 in %2",
	  .stack = ST(TRACE, SKIP("ubsan", "overflow")) },
};

static struct oops_fmt reboot_fmts[] = {
	{ .title = "^Booting the kernel", .fmt = "unexpected kernel reboot", .no_stack_trace = 1 },
};

static struct oops_fmt netdev_fmts[] = {
	{ .title = "unregister_netdevice: waiting for (?:.*) to become free",
	  .fmt = "unregister_netdevice: waiting for DEV to become free", .no_stack_trace = 1 },
};

static struct oops_fmt vfs_close_fmts[] = {
	{ .title = "VFS: Close: file count is 0",
	  .fmt = "VFS: Close: file count is zero (use-after-free)", .no_stack_trace = 1 },
};

static struct oops_fmt vfs_busy_fmts[] = {
	{ .title = "VFS: Busy inodes after unmount",
	  .fmt = "VFS: Busy inodes after unmount (use-after-free)", .no_stack_trace = 1 },
};

/* arm64 "Internal error: synchronous external abort" is arm's paging request: one ALT */
static struct oops_fmt internal_fmts[] = {
	{ .title = "Internal error:", .fmt = "Internal error in %1", .alt = { "bad-access in %1" },
	  .stack = ST(RIP_TRACE) },
};

static struct oops_fmt unhandled_fmts[] = {
	{ .title = "Unhandled fault:", .fmt = "Unhandled fault in %1",
	  .alt = { "bad-access in %1" }, .stack = ST(RIP_TRACE) },
};

static struct oops_fmt alignment_fmts[] = {
	{ .title = "Alignment trap:", .fmt = "Alignment trap in %1", .stack = ST(RIP_TRACE) },
};

static struct oops_fmt trusty_fmts[] = {
	{ .title = "trusty: panic.* ASSERT FAILED",
	  .report = "trusty: panic \\([^)]*\\):(?: DEBUG)? ASSERT FAILED at \\([^)]*\\): (.+)",
	  .fmt = "trusty: ASSERT FAILED: %1", .no_stack_trace = 1 },
	{ .title = "trusty: panic.* ASSERT FAILED.*: *(.*)", .fmt = "trusty: ASSERT FAILED: %1",
	  .corrupted = 1 },
	{ .title = "trusty: panic", .report = "trusty: panic \\([^)]*\\): (.+)",
	  .fmt = "trusty: panic: %1", .no_stack_trace = 1 },
};

/* Go programs on the machine (and the fuzzer itself) */
static struct oops_fmt go_panic_fmts[] = {
	{ .title = "panic: Sentry detected .* stuck task", .fmt = "panic: Sentry detected stuck tasks",
	  .no_stack_trace = 1 },
	{ .title = "panic:(.*)", .fmt = "panic:%1", .no_stack_trace = 1 },
};

static struct oops_fmt go_fatal_fmts[] = {
	{ .title = "fatal error:", .fmt = "go runtime error", .no_stack_trace = 1 },
};

#define OOPS(hdr, f, ...) { .header = hdr, .fmts = f, .nfmts = sizeof(f) / sizeof(f[0]), \
				.suppress = { __VA_ARGS__ } }

struct oops rpt_oopses[] = {
	OOPS("BUG:", bug_fmts, "ODEBUG:", "Boot_DEBUG:", "xlog_status:", "DEBUG:",
	     "BUG: no syscalls can create resource"),
	OOPS("WARNING:", warning_fmts, "WARNING: /etc/ssh/moduli does not exist, using fixed modulus",
	     "WARNING: workqueue cpumask: online intersect > possible intersect",
	     "WARNING: [Tt]he mand mount option",
	     "WARNING: Unsupported flag value\\(s\\) of 0x%x in DT_FLAGS_1",
	     "WARNING: Unprivileged eBPF is enabled with eIBRS",
	     "WARNING: fbcon: Driver '(.*)' missed to adjust virtual screen size",
	     "WARNING: See https.* for mitigation options.",
	     "WARNING: kernel not compiled with CPU_SRSO", "EXT4-[Ff][Ss](?: \\(.*\\))?:",
	     "[Ww][Aa][Rr][Nn][Ii][Nn][Gg]: .* uses (deprecated v2 capabilities|wireless "
	     "extensions)",
	     "XFS \\(\\w+\\): WARNING"),
	OOPS("INFO:", info_fmts, "INFO: lockdep is turned off",
	     "INFO: Stall ended before state dump start", "INFO: NMI handler",
	     "INFO: recovery required on readonly filesystem", "(handler|interrupt).*took too long",
	     "INFO: sys_.* is not present in /proc/kallsyms", "INFO: no syscalls can create resource",
	     "rmt_storage:INFO:", "_INFO:"),
	OOPS("Unable to handle kernel", unable_fmts, NULL),
	OOPS("general protection fault", gpf_fmts, "general protection fault .* error:[0-9]+ in "),
	OOPS("stack segment: ", stack_segment_fmts, NULL),
	OOPS("Kernel panic", panic_fmts, NULL),
	OOPS("PANIC: double fault", double_fault_fmts, NULL),
	OOPS("rust_kernel: panicked", rust_fmts, NULL),
	OOPS("kernel BUG", kernel_bug_fmts, NULL),
	OOPS("Kernel BUG", kernel_bug2_fmts, NULL),
	OOPS("BUG kmalloc-", kmalloc_fmts, NULL),
	OOPS("divide error:", divide_fmts, NULL),
	OOPS("divide_error:", divide2_fmts, NULL),
	OOPS("invalid opcode:", opcode_fmts, NULL),
	OOPS("int3: ", int3_fmts, NULL),
	OOPS("UBSAN:", ubsan_fmts, NULL),
	OOPS(RPT_REBOOT_HEADER, reboot_fmts, "Parsing ELF|Decompressing Linux|Unknown parameter '"),
	OOPS("unregister_netdevice: waiting for", netdev_fmts, NULL),
	OOPS("VFS: Close: file count is 0", vfs_close_fmts, NULL),
	OOPS("VFS: Busy inodes after unmount", vfs_busy_fmts, NULL),
	OOPS("Internal error:", internal_fmts, NULL),
	OOPS("Unhandled fault:", unhandled_fmts, NULL),
	OOPS("Alignment trap:", alignment_fmts, NULL),
	OOPS("trusty: panic", trusty_fmts, NULL),
	OOPS("panic:", go_panic_fmts, "_panic:"),
	OOPS("fatal error:", go_fatal_fmts, NULL),
};
const size_t rpt_noopses = sizeof(rpt_oopses) / sizeof(rpt_oopses[0]);

/* Headers that can appear inside another report without starting a second one. */
const char *const rpt_report_start_ignores[] = {
	"invalid opcode: 0000", "Kernel panic - not syncing", "unregister_netdevice: waiting for",
	/* a double fault while handling a fault is usually the same report */
	"PANIC: double fault", "Internal error:", NULL,
};

/* Messages that are no bug but print a stack: inside a report, they end its useful part. */
const char *const rpt_info_with_stack[] = {
	"vmalloc: allocation failure:", "FAULT_INJECTION: forcing a failure",
	"FAULT_FLAG_ALLOW_RETRY missing", NULL,
};

/* Frames never used in titles: sanitizers, reporting, allocators, locking primitives,
 * string and list helpers, generic device/workqueue/timer plumbing (patterns, unanchored
 * unless "^"/"$"). */
const char *const rpt_skip_patterns[] = {
	"__sanitizer", "__asan", "kasan", "hwasan", "__msan", "kmsan", "kcsan_setup_watchpoint",
	"check_memory_region", "check_heap_object", "check_object", "read_word_at_a_time",
	"(read|write)_once_.*nocheck", "print_address_description", "panic", "invalid_op",
	"report_bug", "fixup_bug", "print_report", "print_usage_bug", "do_error", "_trap$",
	"do_trap", "show_stack", "dump_stack", "walk_stack", "dump_backtrace", "warn_slowpath",
	"warn_alloc", "warn_bogus", "__warn", "alloc_page", "k?v?(m|z|c)alloc", "krealloc",
	"kmem_cache", "allocate_slab", "__alloc_frozen_pages_noprof", "folio_(alloc|unlock)",
	"filemap_alloc_folio", "__filemap_get_folio", "find_or_create_page",
	"do_read_cache_folio", "read_cache_page", "pagecache_get_page",
	"grab_cache_page_write_begin", "slab_", "debug_object", "timer_is_static_object",
	"work_is_static_object", "__might_fault", "print_unlock", "imbalance_bug", "lockdep",
	"bh_enable", "bh_disable", "perf_trace", "lock_acquire", "lock_release", "lock_class",
	"mark_lock", "(reacquire|mark)_held_locks", "raw_spin_rq", "spin_lock", "spin_trylock",
	"spin_unlock", "read_lock", "read_trylock", "write_lock", "write_trylock", "read_unlock",
	"write_unlock", "^down$", "down_read", "down_write", "down_read_trylock",
	"down_write_trylock", "down_trylock", "up_read", "up_write", "^mutex_", "^__mutex_",
	"^rt_mutex_", "owner_on_cpu", "osq_lock", "osq_unlock",
	"atomic(64)?_(dec|inc|read|set|or|xor|and|add|sub|fetch|xchg|cmpxchg|try)",
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
	"insert_work", "__queue_delayed_work", "queue_delayed_work_on", "ida_free",
	/* arm64 translation fault path */
	"do_(kernel|translation)_fault", "do_mem_abort", "el1_abort", "el1h_64_sync(_handler)?",
	"print_tainted", "xas_(start|load|find)", "find_lock_entries",
	"truncate_inode_pages_range", "__phys_addr", "__fortify_report", "cleanup_srcu_struct",
	"rhashtable_lookup", "extract_(user|iter)_to_sg", "drop_nlink", "^get_taint$",
	"^put_device$", "lock_timer_base", "__timer_delete_sync", "sk_stop_timer_sync",
	"__mod_timer", "fast_dput", "dput",
	/* buffer-head helpers warn about their caller's misuse */
	"mark_buffer_dirty", NULL,
};

/* Syscall entry prefixes: each architecture names the same syscall differently; the
 * shortest strip wins. */
const char *const rpt_strip_prefixes[] = {
	"SYSC_", "SyS_", "sys_", "__x64_", "__ia32_", "__arm64_", "____sys_", "___sys_",
	"__sys_", "__se_", "__se_sys_", "__do_sys_", "compat_SYSC_", "compat_SyS_", "ksys_", NULL,
};

/* Stalls and lockups loop somewhere: the frame before the first of these (a dispatcher,
 * a syscall entry, a discriminating file/socket operation) names them. */
const char *const rpt_stall_anchors[] = {
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
