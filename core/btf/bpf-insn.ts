/**
 * eBPF instructions as ig shows them: `ig image inspect` puts `Instructions.String()` of
 * cilium/ebpf (v0.18, the version ig builds with) in `ebpf.programs[].Source`. This module decodes
 * instructions from an object's bytes and prints them in that library's text form:
 *
 *   <symbol>:
 *   	   ; <source line, from BTF line info>
 *   	  0: LdXMemDW dst: r8 src: r1 off: 32 imm: 0
 *   	  5: LoadMapValue dst: r1, fd: 0 off: 8 <.rodata>
 *   	 27: Call FnGetCurrentUidGid
 *
 * Opcode names are class/mode/size (LdXMemW), operation/source (AddImm, JNEReg, suffix 32 for
 * 32-bit ALU and jumps), helper calls by their kernel name in CamelCase (FnMapLookupElem), r10 is
 * `rfp`, and references to maps, data sections and functions follow in `<…>`.
 */

export interface Insn {
  /** cilium's OpCode: the raw opcode byte, with extended ALU operations above it (SDiv = Div+0x100…). */
  op: number;
  dst: number;
  src: number;
  off: number;
  /** cilium's Constant (int64): the immediate, 64-bit for `lddw`. */
  imm: bigint;
  /** Function name when the instruction starts a function. */
  symbol?: string;
  /** A map, data section or function the instruction refers to. */
  reference?: string;
  /** The source line (BTF line info) the instruction comes from. */
  source?: string;
}

// classes
export const LD = 0x00;
export const LDX = 0x01;
export const ST = 0x02;
export const STX = 0x03;
export const ALU = 0x04;
export const JMP = 0x05;
export const JMP32 = 0x06;
export const ALU64 = 0x07;

// jump operations
export const JA = 0x00;
export const CALL = 0x80;
export const EXIT = 0x90;

// pseudo source registers
export const PSEUDO_MAP_FD = 1;
export const PSEUDO_MAP_VALUE = 2;
export const PSEUDO_CALL = 1;
export const PSEUDO_FUNC = 4;
export const PSEUDO_KFUNC_CALL = 2;

/** `lddw`: LdClass | ImmMode | DWord. */
export const LD_IMM_DW = 0x18;

const SWAP = 0xd0;
const DIV = 0x30;
const MOD = 0x90;
const MOV = 0xb0;

const CLASS_NAMES = ["Ld", "LdX", "St", "StX", "ALU", "Jump", "Jump32", "ALU64"];
const MODE_NAMES: Record<number, string> = { 0x00: "Imm", 0x20: "Abs", 0x40: "Ind", 0x60: "Mem", 0x80: "MemSX", 0xc0: "XAdd" };
const SIZE_NAMES: Record<number, string> = { 0x18: "DW", 0x00: "W", 0x08: "H", 0x10: "B" };
const ALU_NAMES: Record<number, string> = {
  0x00: "Add", 0x10: "Sub", 0x20: "Mul", 0x30: "Div", 0x40: "Or", 0x50: "And", 0x60: "LSh", 0x70: "RSh", 0x80: "Neg", 0x90: "Mod",
  0xa0: "Xor", 0xb0: "Mov", 0xc0: "ArSh", 0xd0: "Swap", 0x130: "SDiv", 0x190: "SMod", 0x1b0: "MovSX8", 0x2b0: "MovSX16", 0x3b0: "MovSX32",
};
const JUMP_NAMES: Record<number, string> = {
  0x00: "Ja", 0x10: "JEq", 0x20: "JGT", 0x30: "JGE", 0x40: "JSet", 0x50: "JNE", 0x60: "JSGT", 0x70: "JSGE", 0x80: "Call", 0x90: "Exit",
  0xa0: "JLT", 0xb0: "JLE", 0xc0: "JSLT", 0xd0: "JSLE",
};

/**
 * The kernel's BPF helpers in id order (uapi/linux/bpf.h __BPF_FUNC_MAPPER, up to Linux 6.2);
 * cilium names helper N `Fn` + its name in CamelCase.
 */
const HELPERS = (
  "unspec map_lookup_elem map_update_elem map_delete_elem probe_read ktime_get_ns trace_printk get_prandom_u32 get_smp_processor_id " +
  "skb_store_bytes l3_csum_replace l4_csum_replace tail_call clone_redirect get_current_pid_tgid get_current_uid_gid get_current_comm " +
  "get_cgroup_classid skb_vlan_push skb_vlan_pop skb_get_tunnel_key skb_set_tunnel_key perf_event_read redirect get_route_realm " +
  "perf_event_output skb_load_bytes get_stackid csum_diff skb_get_tunnel_opt skb_set_tunnel_opt skb_change_proto skb_change_type " +
  "skb_under_cgroup get_hash_recalc get_current_task probe_write_user current_task_under_cgroup skb_change_tail skb_pull_data " +
  "csum_update set_hash_invalid get_numa_node_id skb_change_head xdp_adjust_head probe_read_str get_socket_cookie get_socket_uid " +
  "set_hash setsockopt skb_adjust_room redirect_map sk_redirect_map sock_map_update xdp_adjust_meta perf_event_read_value " +
  "perf_prog_read_value getsockopt override_return sock_ops_cb_flags_set msg_redirect_map msg_apply_bytes msg_cork_bytes " +
  "msg_pull_data bind xdp_adjust_tail skb_get_xfrm_state get_stack skb_load_bytes_relative fib_lookup sock_hash_update " +
  "msg_redirect_hash sk_redirect_hash lwt_push_encap lwt_seg6_store_bytes lwt_seg6_adjust_srh lwt_seg6_action rc_repeat " +
  "rc_keydown skb_cgroup_id get_current_cgroup_id get_local_storage sk_select_reuseport skb_ancestor_cgroup_id sk_lookup_tcp " +
  "sk_lookup_udp sk_release map_push_elem map_pop_elem map_peek_elem msg_push_data msg_pop_data rc_pointer_rel spin_lock " +
  "spin_unlock sk_fullsock tcp_sock skb_ecn_set_ce get_listener_sock skc_lookup_tcp tcp_check_syncookie sysctl_get_name " +
  "sysctl_get_current_value sysctl_get_new_value sysctl_set_new_value strtol strtoul sk_storage_get sk_storage_delete send_signal " +
  "tcp_gen_syncookie skb_output probe_read_user probe_read_kernel probe_read_user_str probe_read_kernel_str tcp_send_ack " +
  "send_signal_thread jiffies64 read_branch_records get_ns_current_pid_tgid xdp_output get_netns_cookie get_current_ancestor_cgroup_id " +
  "sk_assign ktime_get_boot_ns seq_printf seq_write sk_cgroup_id sk_ancestor_cgroup_id ringbuf_output ringbuf_reserve ringbuf_submit " +
  "ringbuf_discard ringbuf_query csum_level skc_to_tcp6_sock skc_to_tcp_sock skc_to_tcp_timewait_sock skc_to_tcp_request_sock " +
  "skc_to_udp6_sock get_task_stack load_hdr_opt store_hdr_opt reserve_hdr_opt inode_storage_get inode_storage_delete d_path " +
  "copy_from_user snprintf_btf seq_printf_btf skb_cgroup_classid redirect_neigh per_cpu_ptr this_cpu_ptr redirect_peer " +
  "task_storage_get task_storage_delete get_current_task_btf bprm_opts_set ktime_get_coarse_ns ima_inode_hash sock_from_file " +
  "check_mtu for_each_map_elem snprintf sys_bpf btf_find_by_name_kind sys_close timer_init timer_set_callback timer_start " +
  "timer_cancel get_func_ip get_attach_cookie task_pt_regs get_branch_snapshot trace_vprintk skc_to_unix_sock kallsyms_lookup_name " +
  "find_vma loop strncmp get_func_arg get_func_ret get_func_arg_cnt get_retval set_retval xdp_get_buff_len xdp_load_bytes " +
  "xdp_store_bytes copy_from_user_task skb_set_tstamp ima_file_hash kptr_xchg map_lookup_percpu_elem skc_to_mptcp_sock dynptr_from_mem " +
  "ringbuf_reserve_dynptr ringbuf_submit_dynptr ringbuf_discard_dynptr dynptr_read dynptr_write dynptr_data tcp_raw_gen_syncookie_ipv4 " +
  "tcp_raw_gen_syncookie_ipv6 tcp_raw_check_syncookie_ipv4 tcp_raw_check_syncookie_ipv6 ktime_get_tai_ns user_ringbuf_drain " +
  "cgrp_storage_get cgrp_storage_delete"
).split(" ");

const camel = (snake: string) => snake.split("_").map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join("");

/** cilium's BuiltinFunc(n).String(): `FnMapLookupElem`, or `BuiltinFunc(n)` for an unknown id. */
export function helperName(constant: bigint): string {
  const n = Number(BigInt.asUintN(32, constant));
  const name = HELPERS[n];
  return name !== undefined ? `Fn${camel(name)}` : `BuiltinFunc(${n})`;
}

/** cilium's MapType(n).String() (Linux map types). */
const MAP_TYPES = (
  "UnspecifiedMap Hash Array ProgramArray PerfEventArray PerCPUHash PerCPUArray StackTrace CGroupArray LRUHash LRUCPUHash LPMTrie " +
  "ArrayOfMaps HashOfMaps DevMap SockMap CPUMap XSKMap SockHash CGroupStorage ReusePortSockArray PerCPUCGroupStorage Queue Stack " +
  "SkStorage DevMapHash StructOpsMap RingBuf InodeStorage TaskStorage BloomFilter UserRingbuf CgroupStorage Arena"
).split(" ");

export function mapTypeName(type: number): string {
  return MAP_TYPES[type] ?? `MapType(${type})`;
}

export const cls = (op: number) => op & 0x07;
const isLoadOrStore = (c: number) => c <= STX;
const isALU = (c: number) => c === ALU || c === ALU64;
const isJump = (c: number) => c === JMP || c === JMP32;
const aluOp = (op: number) => op & 0x3ff0;
const mode = (op: number) => op & 0xe0;
const source = (op: number) => op & 0x08;

/** cilium's OpCode.JumpOp(): undefined when not a jump (or Call/Exit in the 32-bit class). */
export function jumpOp(op: number): number | undefined {
  const c = cls(op);
  if (!isJump(c)) return undefined;
  const j = op & 0xf0;
  if (c === JMP32 && (j === EXIT || j === CALL)) return undefined;
  return j;
}

export const isBuiltinCall = (i: Insn) => jumpOp(i.op) === CALL && i.src === 0 && i.dst === 0;
export const isFunctionCall = (i: Insn) => jumpOp(i.op) === CALL && i.src === PSEUDO_CALL;
export const isFunctionReference = (i: Insn) => isFunctionCall(i) || (i.op === LD_IMM_DW && i.src === PSEUDO_FUNC);
export const rawSlots = (i: Insn) => (i.op === LD_IMM_DW ? 2 : 1);

/** Decode a section's instructions (cilium's Instruction.Unmarshal). */
export function decodeInstructions(bytes: Uint8Array, littleEndian: boolean): Insn[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Insn[] = [];
  let o = 0;
  while (o + 8 <= bytes.length) {
    let op = bytes[o]!;
    const regs = bytes[o + 1]!;
    const dst = littleEndian ? regs & 0xf : regs >> 4;
    const src = littleEndian ? regs >> 4 : regs & 0xf;
    let off = dv.getInt16(o + 2, littleEndian);
    const c = cls(op);
    const ins0: Insn = { op, dst, src, off, imm: 0n };
    if (!isBuiltinCall(ins0) && isALU(c)) {
      const a = aluOp(op);
      const widen = (to: number) => {
        op = (op & ~0x3ff0) | to;
        off = 0;
      };
      if (a === DIV && off === 1) widen(0x130);
      else if (a === MOD && off === 1) widen(0x190);
      else if (a === MOV && off === 8) widen(0x1b0);
      else if (a === MOV && off === 16) widen(0x2b0);
      else if (a === MOV && off === 32) widen(0x3b0);
    }
    let imm = BigInt(dv.getInt32(o + 4, littleEndian));
    o += 8;
    if (op === LD_IMM_DW) {
      if (o + 8 > bytes.length) throw new Error("64bit immediate is missing second half");
      if (dv.getUint32(o, littleEndian) !== 0) throw new Error("64bit immediate has non-zero fields");
      const hi = BigInt(dv.getInt32(o + 4, littleEndian));
      imm = (hi << 32n) | BigInt.asUintN(32, imm);
      o += 8;
    }
    out.push({ op, dst, src, off, imm });
  }
  return out;
}

/** cilium's OpCode.String(). */
export function opName(op: number): string {
  const c = cls(op);
  if (isLoadOrStore(c)) {
    const m = mode(op);
    return CLASS_NAMES[c]! + (MODE_NAMES[m] ?? `Mode(${m})`) + SIZE_NAMES[op & 0x18]!;
  }
  if (isALU(c)) {
    const a = aluOp(op);
    let s = a === SWAP && c === ALU64 ? "B" : "";
    s += ALU_NAMES[a] ?? `ALUOp(${a})`;
    if (a === SWAP) {
      if (c === ALU) s += source(op) ? "BE" : "LE";
    } else {
      s += source(op) ? "Reg" : "Imm";
      if (c === ALU) s += "32";
    }
    return s;
  }
  const j = jumpOp(op);
  let s = j === undefined ? "InvalidJumpOp" : JUMP_NAMES[j]!;
  if (c === JMP32) s += "32";
  if (j !== EXIT && j !== CALL && j !== JA) s += source(op) ? "Reg" : "Imm";
  return s;
}

const reg = (r: number) => (r === 10 ? "rfp" : `r${r}`);

/** cilium's Instruction.Format with %v. */
export function formatInsn(i: Insn): string {
  const op = i.op;
  if (jumpOp(op) === EXIT) return opName(op);
  let s: string;
  if (op === LD_IMM_DW && (i.src === PSEUDO_MAP_FD || i.src === PSEUDO_MAP_VALUE)) {
    const fd = Number(BigInt.asIntN(32, i.imm));
    s = i.src === PSEUDO_MAP_FD ? `LoadMapPtr dst: ${reg(i.dst)} fd: ${fd}` : `LoadMapValue dst: ${reg(i.dst)}, fd: ${fd} off: ${BigInt.asUintN(32, i.imm >> 32n)}`;
  } else {
    const c = cls(op);
    if (isLoadOrStore(c)) {
      s = `${opName(op)} `;
      switch (mode(op)) {
        case 0x00: s += `dst: ${reg(i.dst)} imm: ${i.imm}`; break;
        case 0x20: s += `imm: ${i.imm}`; break;
        case 0x40: s += `dst: ${reg(i.dst)} src: ${reg(i.src)} imm: ${i.imm}`; break;
        case 0x60: case 0x80: s += `dst: ${reg(i.dst)} src: ${reg(i.src)} off: ${i.off} imm: ${i.imm}`; break;
        case 0xc0: s += `dst: ${reg(i.dst)} src: ${reg(i.src)}`; break;
      }
    } else if (isALU(c)) {
      s = opName(op);
      if (op === (ALU64 | SWAP)) s += String(i.imm);
      s += ` dst: ${reg(i.dst)} `;
      if (aluOp(op) !== SWAP) s += source(op) ? `src: ${reg(i.src)}` : `imm: ${i.imm}`;
    } else {
      s = `${opName(op)} `;
      const j = jumpOp(op);
      if (j === CALL) {
        if (i.src === PSEUDO_CALL) s += String(i.imm);
        else if (i.src === PSEUDO_KFUNC_CALL) s += `Kfunc(${i.imm})`;
        else s += helperName(i.imm);
      } else if (j === JA) {
        s += c === JMP32 ? `imm: ${i.imm}` : `off: ${i.off}`;
      } else {
        s += `dst: ${reg(i.dst)} off: ${i.off} ` + (source(op) ? `src: ${reg(i.src)}` : `imm: ${i.imm}`);
      }
    }
  }
  return i.reference ? `${s} <${i.reference}>` : s;
}

/** cilium's Instructions.String(): symbols, source lines and offsets (in raw instructions). */
export function formatProgram(insns: Insn[]): string {
  const width = Math.ceil(Math.log10(insns.length * 2));
  let out = "";
  let offset = 0;
  for (const i of insns) {
    if (i.symbol) out += `${i.symbol}:\n`;
    const line = i.source?.trim();
    if (line) out += `\t${" ".padStart(width)}; ${line}\n`;
    out += `\t${String(offset).padStart(width)}: ${formatInsn(i)}\n`;
    offset += rawSlots(i);
  }
  return out;
}
