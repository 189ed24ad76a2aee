//! Boot path: the Linux boot-protocol header and real-mode setup code, the 32-bit entry, the
//! identity-mapped page tables and the switch to long mode, up to `kernel_main`.
//!
//! The image has two parts, laid out by `link.ld`:
//! - the *setup* part (file offset 0, `SETUP_SECTS + 1` sectors, linked at address 0): the boot
//!   sector's header fields at 0x1F1, the `HdrS` header at 0x202 and the real-mode code that a
//!   boot loader (QEMU's `linuxboot` option ROM, under SeaBIOS) jumps to at `segment+0x20:0`;
//! - the *kernel* part, loaded by the boot loader at 1 MiB (`code32_start`), starting with the
//!   32-bit entry of the Linux boot protocol (ESI = boot_params, flat segments, no paging).
//!
//! Real mode builds a fresh zero page (boot_params) 8 KiB above the setup code: it copies the
//! setup header the loader filled in (command line pointer, ...) and adds the BIOS E820 map
//! (INT 15h, AX=E820h), which only real mode can ask for. It then enters protected mode and jumps
//! to the 32-bit entry with ESI pointing at that zero page. The 32-bit entry clears BSS, builds
//! page tables that identity-map the first 4 GiB with 2 MiB pages (RAM, the PCI MMIO hole with
//! the Xen platform device's BAR, the I/O and local APICs, whose two 2 MiB pages are uncached),
//! enables long mode and calls
//! `kernel_main(boot_params)` on a 64 KiB stack.
//!
//! Besides the assembly, which runs before any Rust code, this module holds only the
//! `#[no_mangle]` entry symbol the assembly calls.

#![allow(unsafe_code)]

use core::arch::global_asm;

/// Sectors of setup code after the boot sector (the setup part is `(SETUP_SECTS + 1) * 512`
/// bytes; `link.ld` pads it to exactly that).
pub const SETUP_SECTS: usize = 7;

/// Offset of the zero page built by the real-mode code, from the setup segment's base.
pub const ZERO_PAGE_OFFSET: usize = 0x2000;

/// Size of the boot stack.
pub const STACK_SIZE: usize = 64 * 1024;

global_asm!(
    r#"
    .section .setup, "ax"
    .code16

    /* ---- boot sector: zeros up to the header fields at 0x1F1 ---- */
    .org 0x1f1
    .byte {setup_sects}             /* 0x1F1 setup_sects */
    .word 0                         /* 0x1F2 root_flags */
    .long __syssize                 /* 0x1F4 syssize (16-byte units of the kernel part) */
    .word 0                         /* 0x1F8 ram_size */
    .word 0xffff                    /* 0x1FA vid_mode: normal */
    .word 0                         /* 0x1FC root_dev */
    .word 0xaa55                    /* 0x1FE boot_flag */

    /* ---- 0x200: jump over the header to the setup code ---- */
    .byte 0xeb, setup_start - hdrs  /* 0x200 jump (short) */
hdrs:
    .ascii "HdrS"                   /* 0x202 header */
    .word 0x0206                    /* 0x206 version: 2.06 (no setup_data, no 64-bit entry) */
    .long 0                         /* 0x208 realmode_swtch */
    .word 0x1000                    /* 0x20C start_sys_seg (obsolete) */
    .word 0                         /* 0x20E kernel_version */
    .byte 0                         /* 0x210 type_of_loader (written by the loader) */
    .byte 0x01                      /* 0x211 loadflags: LOADED_HIGH (kernel at 1 MiB) */
    .word 0                         /* 0x212 setup_move_size */
    .long 0x100000                  /* 0x214 code32_start */
    .long 0                         /* 0x218 ramdisk_image */
    .long 0                         /* 0x21C ramdisk_size */
    .long 0                         /* 0x220 bootsect_kludge */
    .word 0                         /* 0x224 heap_end_ptr (written by the loader) */
    .byte 0                         /* 0x226 ext_loader_ver */
    .byte 0                         /* 0x227 ext_loader_type */
    .long 0                         /* 0x228 cmd_line_ptr (written by the loader) */
    .long 0x7fffffff                /* 0x22C initrd_addr_max */
    .long 0x200000                  /* 0x230 kernel_alignment */
    .byte 0                         /* 0x234 relocatable_kernel: no */
    .byte 0                         /* 0x235 min_alignment */
    .word 0                         /* 0x236 xloadflags */
    .long 2047                      /* 0x238 cmdline_size */

setup_start:                        /* 0x23C; entered at CS = DS + 0x20, IP = 0 (offset 0x200) */
    cli
    cld
    /* Normalise CS to the setup segment (the loader set DS = ES = SS = that segment). */
    pushw %ds
    pushw $1f
    lretw
1:
    movw %ds, %ax
    movw %ax, %es
    movw %ax, %ss
    movw $0xfff0, %sp

    /* Zero the new zero page: ES:DI = DS:ZERO_PAGE, 4096 bytes. */
    movw ${zero_page}, %di
    xorl %eax, %eax
    movw $1024, %cx
    rep stosl

    /* Copy the setup header (0x1F1..0x290) the loader filled in. */
    movw $0x1f1, %si
    movw $({zero_page} + 0x1f1), %di
    movw $(0x290 - 0x1f1), %cx
    rep movsb

    /* E820 map into zero_page.e820_table (0x2D0), count in zero_page.e820_entries (0x1E8). */
    xorl %ebx, %ebx
    xorw %bp, %bp                   /* entries stored */
    movw $({zero_page} + 0x2d0), %di
2:
    movl $0xe820, %eax
    movl $20, %ecx
    movl $0x534d4150, %edx          /* 'SMAP' */
    int $0x15
    jc 3f
    cmpl $0x534d4150, %eax
    jne 3f
    incw %bp
    addw $20, %di
    testl %ebx, %ebx
    jz 3f
    cmpw $128, %bp
    jb 2b
3:
    movw %bp, %ax
    movb %al, ({zero_page} + 0x1e8)

    /* Fast A20. */
    inb $0x92, %al
    orb $2, %al
    andb $0xfe, %al
    outb %al, $0x92

    /* Linear address of the setup segment, to relocate the GDT pointer and the zero page. */
    xorl %ebx, %ebx
    movw %ds, %bx
    shll $4, %ebx
    leal setup_gdt(%ebx), %eax
    movl %eax, (setup_gdtr + 2)
    lgdtl setup_gdtr

    leal {zero_page}(%ebx), %esi    /* ESI = boot_params (32-bit boot protocol) */

    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    /* Far jump to the 32-bit entry at code32_start with CS = 0x10 (__BOOT_CS). */
    .byte 0x66, 0xea
    .long 0x100000
    .word 0x10

    .balign 8
setup_gdt:
    .quad 0                         /* 0x00 null */
    .quad 0                         /* 0x08 unused */
    .quad 0x00cf9a000000ffff        /* 0x10 flat 32-bit code */
    .quad 0x00cf92000000ffff        /* 0x18 flat 32-bit data */
setup_gdtr:
    .word 4 * 8 - 1
    .long 0                         /* base, patched at run time */
setup_end:

    /* ================= kernel part, loaded at 1 MiB ================= */
    .section .text.boot32, "ax"
    .code32
    .globl boot32_entry
boot32_entry:
    /* Linux 32-bit boot protocol: flat CS/DS/ES/SS, ESI = boot_params, interrupts off. */
    cli
    cld
    movl $0x18, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss

    /* Clear BSS (page tables and stack live there). */
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    shrl $2, %ecx
    xorl %eax, %eax
    rep stosl

    movl $boot_stack_top, %esp

    /* PML4[0] -> PDPT; PDPT[0..4] -> the four page directories; PD entries map 2 MiB pages. */
    movl $boot_pdpt, %eax
    orl $0x3, %eax
    movl %eax, boot_pml4

    movl $boot_pd, %eax
    orl $0x3, %eax
    xorl %ecx, %ecx
1:
    movl %eax, boot_pdpt(,%ecx,8)
    addl $4096, %eax
    incl %ecx
    cmpl $4, %ecx
    jb 1b

    movl $0x83, %eax                /* present, writable, 2 MiB page */
    xorl %edx, %edx                 /* high dword of the address */
    xorl %ecx, %ecx
2:
    movl %eax, boot_pd(,%ecx,8)
    movl %edx, boot_pd+4(,%ecx,8)
    addl $0x200000, %eax
    adcl $0, %edx
    incl %ecx
    cmpl $2048, %ecx
    jb 2b
    /* The I/O APIC (0xFEC00000) and local APIC (0xFEE00000) pages uncached: PCD | PWT. */
    orl $0x18, boot_pd + (0xfec00000 >> 21) * 8
    orl $0x18, boot_pd + (0xfee00000 >> 21) * 8

    /* Long mode: PAE, page tables, EFER.LME, paging. */
    movl %cr4, %eax
    orl $0x20, %eax                 /* CR4.PAE */
    movl %eax, %cr4
    movl $boot_pml4, %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx          /* IA32_EFER */
    rdmsr
    orl $0x100, %eax                /* LME */
    wrmsr
    movl %cr0, %eax
    orl $0x80010001, %eax           /* PG | WP | PE */
    movl %eax, %cr0

    lgdt boot_gdtr
    ljmpl $0x08, $boot64_entry

    .code64
boot64_entry:
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    xorl %eax, %eax
    movl %eax, %fs
    movl %eax, %gs
    movabsq $boot_stack_top, %rsp
    xorl %ebp, %ebp
    movl %esi, %edi                 /* kernel_main(boot_params), zero-extended */
    call kernel_main
3:
    cli
    hlt
    jmp 3b

    .section .rodata.boot, "a"
    .balign 8
boot_gdt:
    .quad 0                         /* 0x00 null */
    .quad 0x00af9a000000ffff        /* 0x08 64-bit code */
    .quad 0x00cf92000000ffff        /* 0x10 data */
boot_gdtr:
    .word 3 * 8 - 1
    .quad boot_gdt

    .section .bss.boot, "aw", @nobits
    .balign 4096
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_pd:
    .skip 4 * 4096
    .balign 16
boot_stack:
    .skip {stack_size}
boot_stack_top:

    .text
"#,
    setup_sects = const SETUP_SECTS,
    zero_page = const ZERO_PAGE_OFFSET,
    stack_size = const STACK_SIZE,
    options(att_syntax)
);

/// The entry from `boot64_entry`: `boot_params` is the zero page's physical address.
#[no_mangle]
extern "C" fn kernel_main(boot_params: u64) -> ! {
    crate::kernel_start(boot_params)
}
