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
    local.get $p5
    i32.const 512
    i32.sub
    local.set $p5
    i64.const -7
    local.tee $p0
    local.set $p2
    i64.const 2
    local.tee $p1
    drop
    i32.const 0
    if $I0 (result i64)
      i64.const 0
    else
      local.get $p1
      i64.const -1
      i64.eq
      if $I1 (result i64)
        i64.const 0
        local.get $p2
        i64.sub
      else
        local.get $p2
        local.get $p1
        i64.div_s
      end
    end
    local.set $p2
    local.get $p1
    i64.eqz
    i32.eqz
    if $I2
      local.get $p0
      local.get $p1
      i64.rem_s
      local.set $p0
    end
    local.get $p5
    i64.const 40
    i64.store offset=504 align=1
    local.get $p5
    local.get $p1
    local.get $p5
    i64.load offset=504 align=1
    local.tee $p3
    i64.add
    i64.store offset=504 align=1
    local.get $p2
    i32.wrap_i64
    i32.const 8
    i32.shr_u
    i32.const 255
    i32.and
    local.get $p2
    i32.wrap_i64
    i32.const 255
    i32.and
    i32.const 8
    i32.shl
    i32.or
    i64.extend_i32_u
    local.get $p0
    local.get $p3
    local.get $p5
    i64.load offset=504 align=1
    i64.add
    i64.add
    i64.add)
  (func $main (type $t2) (param $p0 i32) (param $p1 i32) (result i32)
    (local $l2 i64)
    i32.const 4096
    local.get $p0
    i64.extend_i32_u
    local.get $p1
    i64.extend_i32_u
    i64.const 0
    i64.const 0
    i64.const 0
    i32.const 12288
    call $f1
    local.tee $l2
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
          i32.const 4096
          local.get $l3
          i64.extend_i32_u
          local.get $l4
          i64.extend_i32_u
          i64.const 0
          i64.const 0
          i64.const 0
          i32.const 12288
          call $f1
          local.tee $l5
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
