# conv2d, pools, bias_add, relu, matmul and the GEMM (ops/conv.c, nn.c, gemm.c).
vs_add_test(NAME test_conv SOURCES test_conv.c TIMEOUT 300 LABELS ops)
