(module
  (type $t0 (func (param i64 i64 i64 i64 i64 i32) (result i64)))
  (type $t1 (func (param i64 i64 i64 i64 i64) (result i64)))
  (type $t2 (func (param i32 i32 i32)))
  (type $t3 (func (param i32 i32) (result i32)))
  (type $t4 (func (param i32 i32 i32) (result i32)))
  (import "env" "memory" (memory $env.memory 1 65536))
  (import "helpers" "helper_5" (func $helpers.helper_5 (type $t1)))
  (func $f1 (type $t2) (param $p0 i32) (param $p1 i32) (param $p2 i32)
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
  (func $f2 (type $t0) (param $p0 i64) (param $p1 i64) (param $p2 i64) (param $p3 i64) (param $p4 i64) (param $p5 i32) (result i64)
    (local $l6 i64)
    i64.const 100
    local.set $p0
    i64.const 7
    local.set $l6
    local.get $p5
    i32.const 9216
    i32.lt_u
    if $I0
      i32.const 1
      i32.const 2
      i32.const 0
      call $f1
      unreachable
    end
    local.get $p0
    local.get $p1
    local.get $p2
    local.get $p3
    local.get $p4
    local.get $p5
    i32.const 512
    i32.sub
    call $f3
    local.get $l6
    i64.add)
  (func $f3 (type $t0) (param $p0 i64) (param $p1 i64) (param $p2 i64) (param $p3 i64) (param $p4 i64) (param $p5 i32) (result i64)
    local.get $p5
    i32.const 512
    i32.sub
    local.tee $p5
    local.get $p0
    i64.store offset=504 align=1
    i64.const 3
    local.get $p1
    local.get $p2
    local.get $p3
    local.get $p4
    call $helpers.helper_5
    local.set $p0
    local.get $p5
    i64.load offset=504 align=1
    local.set $p1
    local.get $p0
    i64.eqz
    if $I0 (result i64)
      i64.const 0
    else
      local.get $p1
      local.get $p0
      i64.div_u
    end)
  (func $main (type $t3) (param $p0 i32) (param $p1 i32) (result i32)
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
    call $f2
    local.tee $l2
    i64.store align=1
    local.get $l2
    i32.wrap_i64)
  (func $main__repeat (type $t4) (param $p0 i32) (param $p1 i32) (param $p2 i32) (result i32)
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
          call $f2
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
