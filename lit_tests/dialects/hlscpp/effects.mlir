// RUN: lstmc-opt %s -p dce | filecheck %s --check-prefix=DCE
// RUN: lstmc-opt %s -p cse | filecheck %s --check-prefix=CSE

// The hlscpp ops declare their side effects, so xDSL's generic dce and cse work on this IR: const, binary,
// select and cast are pure; an array or a FIFO allocates (removable when unused, never merged); a load reads;
// a store and a stream write write; a stream read pops its FIFO (it reads and writes: never removed, never
// merged); a call has unknown effects; a loop or an if has the effects of its body.

// DCE-LABEL: hlscpp.func @dce(
// DCE-NEXT:    %c = hlscpp.const 1 : si8
// DCE-NEXT:    hlscpp.for %i = 0 to 4 step 1 {
// DCE-NEXT:      %x = hlscpp.read %in : !hlscpp.stream<si8> -> si8
// DCE-NEXT:      hlscpp.store %c, %out[%i] : si8, memref<4xsi8>
// DCE-NEXT:    }
// DCE-NEXT:    hlscpp.call @dce() :
// DCE-NEXT:  }
hlscpp.func @dce(%in: !hlscpp.stream<si8> "in", %out: memref<4xsi8> "out") {
  %unused_array = hlscpp.array local : memref<4xsi8>
  %unused_rom = hlscpp.array static_const init dense<1> : tensor<4xsi8> : memref<4xsi8>
  %unused_fifo = hlscpp.stream depth(2) : !hlscpp.stream<si8>
  %c = hlscpp.const 1 : si8
  %dead_const = hlscpp.const 7 : si8
  hlscpp.for %i = 0 to 4 step 1 {
    %x = hlscpp.read %in : !hlscpp.stream<si8> -> si8
    %sum = hlscpp.binary add %c, %x : (si8, si8) -> si9
    %narrow = hlscpp.cast %sum : si9 to si8
    %loaded = hlscpp.load %out[%i] : memref<4xsi8> -> si8
    hlscpp.store %c, %out[%i] : si8, memref<4xsi8>
  }
  // A loop left without effects goes too.
  hlscpp.for %j = 0 to 4 step 1 {
    %p = hlscpp.binary mul %c, %c : (si8, si8) -> si16
  }
  hlscpp.call @dce() :
}

// CSE-LABEL: hlscpp.func @cse(
// CSE-NEXT:    [[A:%[ab]]] = hlscpp.const 3 : si8
// CSE-NEXT:    [[S:%s[12]]] = hlscpp.binary add [[A]], [[A]] : (si8, si8) -> si9
// CSE-NEXT:    %n = hlscpp.cast [[S]] : si9 to si8
// CSE-NEXT:    [[L:%l[12]]] = hlscpp.load %out[%i] : memref<4xsi8> -> si8
// CSE-NEXT:    hlscpp.store [[L]], %out[%i] : si8, memref<4xsi8>
// CSE-NEXT:    hlscpp.store %n, %out[%i] : si8, memref<4xsi8>
// CSE-NEXT:    %l3 = hlscpp.load %out[%i] : memref<4xsi8> -> si8
// CSE-NEXT:    %r1 = hlscpp.read %in : !hlscpp.stream<si8> -> si8
// CSE-NEXT:    %r2 = hlscpp.read %in : !hlscpp.stream<si8> -> si8
// CSE-NEXT:    %arr1 = hlscpp.array local : memref<4xsi8>
// CSE-NEXT:    %arr2 = hlscpp.array local : memref<4xsi8>
// CSE-NEXT:    hlscpp.store %l3, %arr1[%i] : si8, memref<4xsi8>
// CSE-NEXT:    hlscpp.store %r1, %arr1[%i] : si8, memref<4xsi8>
// CSE-NEXT:    hlscpp.store %r2, %arr2[%i] : si8, memref<4xsi8>
// CSE-NEXT:  }
hlscpp.func @cse(%in: !hlscpp.stream<si8> "in", %out: memref<4xsi8> "out", %i: index "i") {
  %a = hlscpp.const 3 : si8
  %b = hlscpp.const 3 : si8
  %s1 = hlscpp.binary add %a, %a : (si8, si8) -> si9
  %s2 = hlscpp.binary add %b, %b : (si8, si8) -> si9
  %n = hlscpp.cast %s2 : si9 to si8
  // Two loads with no write between them are one; a load after a store is not.
  %l1 = hlscpp.load %out[%i] : memref<4xsi8> -> si8
  %l2 = hlscpp.load %out[%i] : memref<4xsi8> -> si8
  hlscpp.store %l2, %out[%i] : si8, memref<4xsi8>
  hlscpp.store %n, %out[%i] : si8, memref<4xsi8>
  %l3 = hlscpp.load %out[%i] : memref<4xsi8> -> si8
  // Two reads of a stream are two elements; two arrays are two arrays.
  %r1 = hlscpp.read %in : !hlscpp.stream<si8> -> si8
  %r2 = hlscpp.read %in : !hlscpp.stream<si8> -> si8
  %arr1 = hlscpp.array local : memref<4xsi8>
  %arr2 = hlscpp.array local : memref<4xsi8>
  hlscpp.store %l3, %arr1[%i] : si8, memref<4xsi8>
  hlscpp.store %r1, %arr1[%i] : si8, memref<4xsi8>
  hlscpp.store %r2, %arr2[%i] : si8, memref<4xsi8>
}
