// One time step of a whole unidirectional stack, for inference (generation, decoding, recursive
// forecasts): state in, state out, no autograd. The Python side (rnnkit/layers/step.py) packs the
// weights once per model and keeps the fallbacks; see there for the contract's reasons.
//
// Why C++: at batch 1 a layer's step is one GEMV plus ~8 small elementwise ops; from Python each op
// costs several microseconds of dispatch, and torch's own nn.LSTM call for T=1 costs far more (it
// sets up its kernel for a sequence every call). Here a layer is ONE ATen GEMM call on [x_t, h]
// with the pre-packed [W_ih | W_hh] (LSTM, RNN) or two (GRU, whose candidate gate needs the
// recurrent part on its own) plus ONE vectorised pass over the gate row, and the whole stack is
// one call from Python.
//
// Contract: x (B, I0); states (L, B, H); every tensor contiguous, on the CPU, of x's dtype (float
// or double). LSTM / RNN: w[l] (G*H, I_l + H) = [W_ih | W_hh] in torch's gate order (LSTM i, f, g,
// o), b[l] (G*H) = b_ih + b_hh (zeros without bias). GRU: w_ih[l] (3H, I_l), w_hh[l] (3H, H),
// b_ih[l], b_hh[l] (3H) in torch's order (r, z, n). Outputs are new tensors: the layer-l output
// is the layer-(l+1) input and the top layer's h is the step's output.
#include "common.h"

#include <vector>

namespace {

using namespace rnnkit_native;
using at::Tensor;

void check_step(const Tensor& x, const Tensor& s, int64_t L, const char* name) {
  check(x, "x", x);
  check(s, name, x);
  TORCH_CHECK(x.dim() == 2, "rnnkit step: x must be (batch, input), got ", x.sizes());
  TORCH_CHECK(s.dim() == 3 && s.size(0) == L && s.size(1) == x.size(0),
              "rnnkit step: ", name, " must be (layers=", L, ", batch=", x.size(0), ", hidden), got ", s.sizes());
}

void check_weight(const Tensor& w, const Tensor& like, int64_t rows, int64_t cols, const char* name) {
  check(w, name, like);
  TORCH_CHECK(w.dim() == 2 && w.size(0) == rows && w.size(1) == cols, "rnnkit step: ", name, " must be (", rows,
              ", ", cols, "), got ", w.sizes());
}

void check_bias(const Tensor& b, const Tensor& like, int64_t rows, const char* name) {
  check(b, name, like);
  TORCH_CHECK(b.dim() == 1 && b.size(0) == rows, "rnnkit step: ", name, " must be (", rows, ",), got ", b.sizes());
}

// ------------------------------------------------------------------ LSTM
std::tuple<Tensor, Tensor> step_lstm(const Tensor& x, const Tensor& h, const Tensor& c, at::TensorList w,
                                     at::TensorList b) {
  const int64_t L = static_cast<int64_t>(w.size()), B = x.size(0), H = h.size(2), G = 4 * H;
  TORCH_CHECK(L >= 1 && static_cast<int64_t>(b.size()) == L, "rnnkit step_lstm: one weight and one bias per layer");
  check_step(x, h, L, "h");
  check_step(x, c, L, "c");
  Tensor h_out = at::empty_like(h), c_out = at::empty_like(c);
  Tensor gates = at::empty({B, G}, x.options());
  Tensor inp = x;
  for (int64_t l = 0; l < L; ++l) {
    const int64_t I = inp.size(1);
    check_weight(w[l], x, G, I + H, "w");
    check_bias(b[l], x, G, "b");
    at::addmm_out(gates, b[l], at::cat({inp, h[l]}, 1), w[l].t());
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rnnkit_step_lstm", [&] {
      using T_ = scalar_t;
      const T_* g_base = gates.data_ptr<T_>();
      const T_* cp_base = c.data_ptr<T_>() + l * B * H;
      T_* c_base = c_out.data_ptr<T_>() + l * B * H;
      T_* h_base = h_out.data_ptr<T_>() + l * B * H;
      at::parallel_for(0, B, grain(G), [&](int64_t b0, int64_t b1) {
        for (int64_t r = b0; r < b1; ++r) {
          const T_* i = g_base + r * G;
          const T_ *f = i + H, *g = i + 2 * H, *o = i + 3 * H, *cp = cp_base + r * H;
          T_ *cn = c_base + r * H, *hn = h_base + r * H;
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            Vec<T_> vc = sigm(ld(f, k, n)) * ld(cp, k, n) + sigm(ld(i, k, n)) * tnh(ld(g, k, n));
            st(vc, cn, k, n);
            st(sigm(ld(o, k, n)) * tnh(vc), hn, k, n);
          });
        }
      });
    });
    inp = h_out[l];
  }
  return {h_out, c_out};
}

// ------------------------------------------------------------------ GRU (reset after, as torch)
Tensor step_gru(const Tensor& x, const Tensor& h, at::TensorList w_ih, at::TensorList w_hh, at::TensorList b_ih,
                at::TensorList b_hh) {
  const int64_t L = static_cast<int64_t>(w_ih.size()), B = x.size(0), H = h.size(2), G = 3 * H;
  TORCH_CHECK(L >= 1 && static_cast<int64_t>(w_hh.size()) == L && static_cast<int64_t>(b_ih.size()) == L &&
                  static_cast<int64_t>(b_hh.size()) == L,
              "rnnkit step_gru: one w_ih, w_hh, b_ih and b_hh per layer");
  check_step(x, h, L, "h");
  Tensor h_out = at::empty_like(h);
  Tensor gx = at::empty({B, G}, x.options()), gh = at::empty({B, G}, x.options());
  Tensor inp = x;
  for (int64_t l = 0; l < L; ++l) {
    check_weight(w_ih[l], x, G, inp.size(1), "w_ih");
    check_weight(w_hh[l], x, G, H, "w_hh");
    check_bias(b_ih[l], x, G, "b_ih");
    check_bias(b_hh[l], x, G, "b_hh");
    at::addmm_out(gx, b_ih[l], inp, w_ih[l].t());
    at::addmm_out(gh, b_hh[l], h[l], w_hh[l].t());
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rnnkit_step_gru", [&] {
      using T_ = scalar_t;
      const T_ *x_base = gx.data_ptr<T_>(), *h_base = gh.data_ptr<T_>();
      const T_* hp_base = h.data_ptr<T_>() + l * B * H;
      T_* out_base = h_out.data_ptr<T_>() + l * B * H;
      at::parallel_for(0, B, grain(G), [&](int64_t b0, int64_t b1) {
        for (int64_t r = b0; r < b1; ++r) {
          const T_ *xr = x_base + r * G, *hr = h_base + r * G, *hp = hp_base + r * H;
          T_* hn = out_base + r * H;
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            Vec<T_> vr = sigm(ld(xr, k, n) + ld(hr, k, n));
            Vec<T_> vz = sigm(ld(xr + H, k, n) + ld(hr + H, k, n));
            Vec<T_> vn = tnh(ld(xr + 2 * H, k, n) + vr * ld(hr + 2 * H, k, n));
            st(vn + vz * (ld(hp, k, n) - vn), hn, k, n);  // (1 - z) n + z h
          });
        }
      });
    });
    inp = h_out[l];
  }
  return h_out;
}

// ------------------------------------------------------------------ Elman RNN (tanh or relu)
Tensor step_rnn(const Tensor& x, const Tensor& h, at::TensorList w, at::TensorList b, bool relu) {
  const int64_t L = static_cast<int64_t>(w.size()), B = x.size(0), H = h.size(2);
  TORCH_CHECK(L >= 1 && static_cast<int64_t>(b.size()) == L, "rnnkit step_rnn: one weight and one bias per layer");
  check_step(x, h, L, "h");
  Tensor h_out = at::empty_like(h);
  Tensor inp = x;
  for (int64_t l = 0; l < L; ++l) {
    check_weight(w[l], x, H, inp.size(1) + H, "w");
    check_bias(b[l], x, H, "b");
    Tensor out = h_out[l];
    at::addmm_out(out, b[l], at::cat({inp, h[l]}, 1), w[l].t());
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rnnkit_step_rnn", [&] {
      using T_ = scalar_t;
      T_* p = out.data_ptr<T_>();
      const Vec<T_> zero(T_(0));
      for_vec<T_>(B * H, [&](int64_t k, int64_t n) {
        Vec<T_> v = ld(p, k, n);
        st(relu ? at::vec::maximum(v, zero) : tnh(v), p, k, n);
      });
    });
    inp = out;
  }
  return h_out;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rnnkit_native, m) {
  m.def("step_lstm(Tensor x, Tensor h, Tensor c, Tensor[] w, Tensor[] b) -> (Tensor, Tensor)");
  m.def("step_gru(Tensor x, Tensor h, Tensor[] w_ih, Tensor[] w_hh, Tensor[] b_ih, Tensor[] b_hh) -> Tensor");
  m.def("step_rnn(Tensor x, Tensor h, Tensor[] w, Tensor[] b, bool relu) -> Tensor");
}

TORCH_LIBRARY_IMPL(rnnkit_native, CPU, m) {
  m.impl("step_lstm", &step_lstm);
  m.impl("step_gru", &step_gru);
  m.impl("step_rnn", &step_rnn);
}
