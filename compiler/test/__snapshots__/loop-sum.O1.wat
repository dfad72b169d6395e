(module
  (type $t0 (func (param i32 i32 i32)))
  (type $t1 (func (param i64 i64 i64 i64 i64 i32) (result i64)))
  (type $t2 (func (param i32 i32) (result i32)))
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
    i64.const 0
    local.set $p3
    i64.const 0
    local.set $p2
    loop $L0 (result i64)
      local.get $p1
      local.get $p2
      i64.le_u
      if $I1 (result i64)
        local.get $p3
      else
        local.get $p0
        local.get $p2
        i64.add
        i32.wrap_i64
        i64.load8_u
        local.get $p3
        i64.add
        local.set $p3
        local.get $p2
        i64.const 1
        i64.add
        local.set $p2
        br $L0
      end
    end)
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
  (export "main" (func $main)))
