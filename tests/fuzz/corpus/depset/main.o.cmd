savedcmd_init/main.o := gcc -Wp,-MMD,init/.main.o.d -nostdinc -I./arch/x86/include -include ./include/linux/kconfig.h -c -o init/main.o init/main.c

source_init/main.o := init/main.c

deps_init/main.o := \
  include/linux/compiler-version.h \
    $(wildcard include/config/CC_VERSION_TEXT) \
  include/linux/kconfig.h \
    $(wildcard include/config/CPU_BIG_ENDIAN) \
  ./include/linux/init.h \
  arch/x86/include/asm/../../../../include/asm-generic/bug.h \
  /usr/lib/gcc/x86_64-linux-gnu/12/include/stddef.h \

init/main.o: $(deps_init/main.o)

$(deps_init/main.o):
