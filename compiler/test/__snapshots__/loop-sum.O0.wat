(module
  (type $t0 (func (param i32 i32 i32)))
  (type $t1 (func (param i64 i64 i64 i64 i64 i32) (result i64)))
  (type $t2 (func (param i32 i32) (result i32)))
  (type $t3 (func (param i32 i32 i32) (result i32)))
  (import "env" "memory" (memory $env.memory 1 65536))
  (func $f0 (type $t0) (param $p0 i32) (param $p1 i32) (param $p2 i32)
    i32.const 4112
    local.get $p0
    i64.extend_i32_u
    i64.store32 align=1
    i32.const 4116
    local.get $p1
    i64.extend_i32_u
    i64.store32 align=1
    i32.const 4120
    local.get $p2
    i64.extend_i32_u
    i64.store32 align=1
    unreachable)
  (func $f1 (type $t1) (param $p0 i64) (param $p1 i64) (param $p2 i64) (param $p3 i64) (param $p4 i64) (param $p5 i32) (result i64)
    (local $l6 i64) (local $l7 i64) (local $l8 i64) (local $l9 i64) (local $l10 i64) (local $l11 i64) (local $l12 i32) (local $l13 i32) (local $l14 i64) (local $l15 i64) (local $l16 i64) (local $l17 i32)
    i64.const 0
    local.set $l6
    i64.const 0
    local.set $p2
    loop $L0
      local.get $p2
      local.get $p1
      i64.ge_u
      if $I1
        local.get $l6
        return
      else
        local.get $p0
        local.set $p3
        local.get $p3
        local.get $p2
        i64.add
        local.set $p3
        local.get $p3
        i32.wrap_i64
        i64.load8_u
        local.set $p4
        local.get $l6
        local.get $p4
        i64.add
        local.set $l6
        local.get $p2
        i64.const 1
        i64.add
        local.set $p2
        br $L0
      end
    end
    unreachable)
  (func $main (type $t2) (param $p0 i32) (param $p1 i32) (result i32)
    (local $l2 i64)
    local.get $p0
    i64.extend_i32_u
    local.get $p1
    i64.extend_i32_u
    i64.const 0
    i64.const 0
    i64.const 0
    i32.const 12288
    call $f1
    local.set $l2
    i32.const 4096
    local.get $l2
    i64.store align=1
    local.get $l2
    i32.wrap_i64)
  (func $main__repeat (type $t3) (param $p0 i32) (param $p1 i32) (param $p2 i32) (result i32)
    (local $l3 i32) (local $l4 i32) (local $l5 i64) (local $l6 i32) (local $l7 i32)
    block $B0
      loop $L1
        local.get $l6
        local.get $p2
        i32.ge_u
        br_if $B0
        local.get $p0
        local.set $l3
        local.get $p1
        local.set $l4
        i64.const 0
        local.set $l5
        block $B2 (result i32)
          local.get $l3
          i64.extend_i32_u
          local.get $l4
          i64.extend_i32_u
          i64.const 0
          i64.const 0
          i64.const 0
          i32.const 12288
          call $f1
          local.set $l5
          i32.const 4096
          local.get $l5
          i64.store align=1
          local.get $l5
          i32.wrap_i64
        end
        local.set $l7
        local.get $l6
        i32.const 1
        i32.add
        local.set $l6
        br $L1
      end
    end
    local.get $l7)
  (export "main" (func $main))
  (export "main__repeat" (func $main__repeat)))
