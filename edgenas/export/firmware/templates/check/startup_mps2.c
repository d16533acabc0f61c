/* Reset for the Cortex-M7 of QEMU's mps2-an500 board: the vector table at address 0 (initial
 * stack pointer, reset handler), the FPU switched on before any float instruction, .bss zeroed,
 * main(), then the emulator told to exit (semihosting SYS_EXIT) with main's verdict. */
#include <stdint.h>

extern uint32_t __bss_start__, __bss_end__, __stack_top;
extern long semihost_call(int operation, void *argument);
int main(void);

#define CPACR (*(volatile uint32_t *)0xE000ED88u)
enum { SYS_EXIT = 0x18, APPLICATION_EXIT = 0x20026, RUNTIME_ERROR = 0x20023 };

static void stop(int failed) {
  semihost_call(SYS_EXIT, (void *)(uintptr_t)(failed ? RUNTIME_ERROR : APPLICATION_EXIT));
  for (;;) {
  }
}

void Reset_Handler(void) {
  CPACR |= 0xFu << 20; /* full access to CP10 and CP11 (the FPU) */
  __asm__ volatile("dsb\n isb");
  for (uint32_t *word = &__bss_start__; word < &__bss_end__; ++word) *word = 0;
  stop(main() != 0);
}

void Fault_Handler(void) { stop(1); }

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(&__stack_top), Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, 0, 0, 0, 0, Fault_Handler, Fault_Handler, 0, Fault_Handler, Fault_Handler,
};
