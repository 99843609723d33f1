// SPDX-License-Identifier: GPL-2.0
/*
 * tests/data/oops/gen/kbcrash.c - a tiny out-of-tree kernel module that makes the kernel
 * print one kind of crash report on load, so make-corpus.sh can record real oopses from
 * a stock Debian cloud kernel (which has no lkdtm). Parameter what=<kind>.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/delay.h>
#include <linux/sched.h>
#include <linux/preempt.h>
#include <linux/slab.h>

static char *what = "none";
module_param(what, charp, 0444);

static volatile int zero;

static noinline void kbcrash_null_deref(void)
{
	int *p = NULL;
	pr_info("kbcrash: %d\n", *(volatile int *)p);
}

static noinline void kbcrash_paging(void)
{
	pr_info("kbcrash: %d\n", *(volatile int *)0xffffffffdead0000UL);
}

static noinline void kbcrash_gpf(void)
{
	pr_info("kbcrash: %d\n", *(volatile int *)0xdead000000000100UL);
}

static noinline void kbcrash_warn(void)
{
	WARN_ON(zero == 0);
}

static noinline void kbcrash_bug(void)
{
	BUG_ON(zero == 0);
}

static noinline void kbcrash_divide(void)
{
	pr_info("kbcrash: %d\n", 100 / zero);
}

static noinline void kbcrash_ud2(void)
{
	asm volatile("ud2");
}

static noinline void kbcrash_list_corrupt(void)
{
	LIST_HEAD(head);
	struct list_head *e = kmalloc(sizeof(*e), GFP_KERNEL);
	struct list_head *x = kmalloc(sizeof(*x), GFP_KERNEL);
	struct list_head *n = kmalloc(sizeof(*n), GFP_KERNEL);

	if (!e || !x || !n)
		return;
	list_add(e, &head);
	x->next = x;
	x->prev = x;
	e->next = x; /* x->prev != e: CONFIG_DEBUG_LIST catches the corruption */
	list_add(n, e);
}

static noinline void kbcrash_hung(void)
{
	schedule_timeout_uninterruptible(60 * HZ);
}

static noinline void kbcrash_lockup(void)
{
	unsigned long end = jiffies + 30 * HZ;

	preempt_disable();
	while (time_before(jiffies, end))
		cpu_relax();
	preempt_enable();
}

static noinline void kbcrash_atomic_sleep(void)
{
	preempt_disable();
	msleep(10);
	preempt_enable();
}

static noinline void kbcrash_panic(void)
{
	panic("kbcrash: requested panic at %p", &zero);
}

static int __init kbcrash_init(void)
{
	pr_info("kbcrash: what=%s\n", what);
	if (!strcmp(what, "null"))
		kbcrash_null_deref();
	else if (!strcmp(what, "paging"))
		kbcrash_paging();
	else if (!strcmp(what, "gpf"))
		kbcrash_gpf();
	else if (!strcmp(what, "warn"))
		kbcrash_warn();
	else if (!strcmp(what, "bug"))
		kbcrash_bug();
	else if (!strcmp(what, "divide"))
		kbcrash_divide();
	else if (!strcmp(what, "ud2"))
		kbcrash_ud2();
	else if (!strcmp(what, "list"))
		kbcrash_list_corrupt();
	else if (!strcmp(what, "hung"))
		kbcrash_hung();
	else if (!strcmp(what, "lockup"))
		kbcrash_lockup();
	else if (!strcmp(what, "atomic"))
		kbcrash_atomic_sleep();
	else if (!strcmp(what, "panic"))
		kbcrash_panic();
	return 0;
}

static void __exit kbcrash_exit(void)
{
}

module_init(kbcrash_init);
module_exit(kbcrash_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kbisect test crashes");
