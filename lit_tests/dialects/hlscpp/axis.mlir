// RUN: LSTMC_ROUNDTRIP | filecheck %s
// RUN: LSTMC_GENERIC_ROUNDTRIP | filecheck %s
// RUN: lstmc-opt %s -t hls-cpp | filecheck %s --check-prefix=CPP

// AXI4-Stream beats: !hlscpp.axis<W> (ap_axiu<W, 0, 0, 0>) on a port, pack (codes, count, last) and unpack.
// CHECK:      hlscpp.func @ports(%in: !hlscpp.stream<!hlscpp.axis<24>> "in" axis, %out: !hlscpp.stream<!hlscpp.axis<16>> "out" axis) {
// CHECK-NEXT:   %b = hlscpp.read %in : !hlscpp.stream<!hlscpp.axis<24>> -> !hlscpp.axis<24>
// CHECK-NEXT:   %i = hlscpp.const 2 : index
// CHECK-NEXT:   %c = hlscpp.unpack %b[%i] : !hlscpp.axis<24> -> si8
// CHECK-NEXT:   %t = hlscpp.const true : i1
// CHECK-NEXT:   %n = hlscpp.const 1 : index
// CHECK-NEXT:   %w = hlscpp.pack %c, %c count %n last %t : si8, si8 -> !hlscpp.axis<16>
// CHECK-NEXT:   hlscpp.write %out, %w : !hlscpp.stream<!hlscpp.axis<16>>, !hlscpp.axis<16>
hlscpp.func @ports(%in: !hlscpp.stream<!hlscpp.axis<24>> "in" axis, %out: !hlscpp.stream<!hlscpp.axis<16>> "out" axis) {
  %b = hlscpp.read %in : !hlscpp.stream<!hlscpp.axis<24>> -> !hlscpp.axis<24>
  %i = hlscpp.const 2 : index
  %c = hlscpp.unpack %b[%i] : !hlscpp.axis<24> -> si8
  %t = hlscpp.const true : i1
  %n = hlscpp.const 1 : index
  %w = hlscpp.pack %c, %c count %n last %t : si8, si8 -> !hlscpp.axis<16>
  hlscpp.write %out, %w : !hlscpp.stream<!hlscpp.axis<16>>, !hlscpp.axis<16>
}

// CPP:      void ports(hls::stream<ap_axiu<24, 0, 0, 0>> &in, hls::stream<ap_axiu<16, 0, 0, 0>> &out) {
// CPP:        ap_axiu<24, 0, 0, 0> [[B:v[0-9]+]] = in.read();
// CPP-NEXT:   ap_int<8> [[C:v[0-9]+]] = [[B]].data.range(23, 16);
// CPP-NEXT:   ap_axiu<16, 0, 0, 0> [[W:v[0-9]+]];
// CPP-NEXT:   [[W]].data = 0;
// CPP-NEXT:   [[W]].data.range(7, 0) = [[C]];
// CPP-NEXT:   [[W]].keep = ~ap_uint<2>(0) >> 1;
// CPP-NEXT:   [[W]].strb = [[W]].keep;
// CPP-NEXT:   [[W]].last = bool(-1);
// CPP-NEXT:   out.write([[W]]);
// CPP:        lstmc_tb::axis<24> [[B:v[0-9]+]] = in.read();
// CPP-NEXT:   int64_t [[C:v[0-9]+]] = ((int64_t)((uint64_t)(lstmc_tb::get_bits([[B]].data, 16, 8)) << 56) >> 56);
// CPP-NEXT:   lstmc_tb::axis<16> [[W:v[0-9]+]];
// CPP-NEXT:   lstmc_tb::put_bits([[W]].data, 0, 8, (uint64_t)([[C]]));
// CPP-NEXT:   lstmc_tb::set_keep([[W]], 1);
