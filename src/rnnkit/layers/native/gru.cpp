// Whole-sequence forward and backward loops on CPU for the GRU (torch's "reset after" form), the
// layer-norm GRU and the Elman RNN (tanh / relu), used by rnnkit/layers/fastgru.py.
//
// Why C++ although torch has GRU and RNN kernels: torch's CPU backward of nn.GRU / nn.RNN is not
// fused; autograd replays ~10 small nodes per step, and at batch 1 that dispatch is ~95% of the
// time (docs/benchmarks.md). Here a step is ONE GEMM plus ONE vectorised pass over the row, in
// both directions, as the LSTM loops of loops.cpp.
//
// Contract (the Python side prepares everything and keeps autograd): torch's gate order (r, z, n);
// all tensors contiguous, one dtype (float or double), CPU. xp (T, B, 3H) holds the input
// projection with b_ih and the r, z parts of b_hh folded in; the n part of b_hh (bn, (H) or
// empty) stays inside r * (U_n h + b_hn). The backward takes the per-step output gradients with
// dh_T folded in (dy) and returns the gradients of the pre-activations; dW_hh and dW_ih come from
// one GEMM over all steps in Python.
#include "common.h"

#include <tuple>

namespace {

using namespace rnnkit_native;
using at::Tensor;

// ------------------------------------------------------------------ GRU (reset after)
// The update h = n + z (h_prev - n) and its gates, backward, at lanes [k, k+n) of one row: from
// dLoss/dh_t (dh) and the saved r, z, n and hn (= U_n h_prev + b_hn, after LN_hh for the layer-norm
// GRU) writes the gradients of the input pre-activations (dx: r, z, n), of the recurrent parts
// (dp: r, z, hn) and the carry dh_t z + dy_{t-1} (dyn: dy_{t-1}'s row, null at t = 0).
template <typename T>
inline void gru_update_bwd(const Vec<T>& vr, const Vec<T>& vz, const Vec<T>& vn, const Vec<T>& vhn, const T* dh,
                           const T* hprev, const T* dyn, T* dx, T* dp, T* cr, int64_t H, int64_t k, int64_t n) {
  const Vec<T> one(T(1));
  Vec<T> vdh = ld(dh, k, n);
  Vec<T> dpn = vdh * (one - vz) * (one - vn * vn);
  Vec<T> dpz = vdh * (ld(hprev, k, n) - vn) * vz * (one - vz);
  Vec<T> dpr = dpn * vhn * vr * (one - vr);
  st(dpr, dx, k, n); st(dpz, dx + H, k, n); st(dpn, dx + 2 * H, k, n);
  st(dpr, dp, k, n); st(dpz, dp + H, k, n); st(dpn * vr, dp + 2 * H, k, n);
  Vec<T> c = vdh * vz;
  st(dyn ? c + ld(dyn, k, n) : c, cr, k, n);
}

//   r = σ(xr + hr), z = σ(xz + hz), n = tanh(xn + r (hn + bn)), h = n + z (h_prev - n)
// with [hr hz hn] = h_prev W_hh^T. Saved per step: r, z, n and hn + bn -> gates (T, B, 4H).
// keep = false (nothing will run the backward: inference): the gates are not written, and an
// empty tensor is returned for them, saving a (T, B, 4H) write.
std::tuple<Tensor, Tensor> gru_fwd(const Tensor& xp, const Tensor& h0, const Tensor& w_hh,
                                   const std::optional<Tensor>& bn_, bool keep) {
  check(xp, "xp", xp);
  const int64_t T = xp.size(0), B = xp.size(1), G = xp.size(2), H = G / 3;
  Tensor bn = opt_contig(bn_);
  Tensor hs = at::empty({T + 1, B, H}, xp.options());
  Tensor gates = at::empty({keep ? T : 0, B, 4 * H}, xp.options());
  Tensor hp = at::empty({B, G}, xp.options());
  hs[0].copy_(h0);
  Tensor wt = w_hh.t();
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_gru_fwd", [&] {
    using T_ = scalar_t;
    const T_* bnp = bn.defined() ? bn.data_ptr<T_>() : nullptr;
    const T_* hp_base = hp.data_ptr<T_>();
    for (int64_t t = 0; t < T; ++t) {
      at::mm_out(hp, hs[t], wt);
      const T_* x_base = xp.data_ptr<T_>() + t * B * G;
      const T_* hprev_base = hs.data_ptr<T_>() + t * B * H;
      T_* h_base = hs.data_ptr<T_>() + (t + 1) * B * H;
      T_* g_base = keep ? gates.data_ptr<T_>() + t * B * 4 * H : nullptr;
      at::parallel_for(0, B, grain(G), [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const T_ *x = x_base + b * G, *p = hp_base + b * G, *hprev = hprev_base + b * H;
          T_ *h = h_base + b * H, *g = g_base ? g_base + b * 4 * H : nullptr;
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            Vec<T_> vr = sigm(ld(x, k, n) + ld(p, k, n));
            Vec<T_> vz = sigm(ld(x + H, k, n) + ld(p + H, k, n));
            Vec<T_> vhn = ld(p + 2 * H, k, n);
            if (bnp) vhn = vhn + ld(bnp, k, n);
            Vec<T_> vn = tnh(ld(x + 2 * H, k, n) + vr * vhn);
            if (g) { st(vr, g, k, n); st(vz, g + H, k, n); st(vn, g + 2 * H, k, n); st(vhn, g + 3 * H, k, n); }
            st(vn + vz * (ld(hprev, k, n) - vn), h, k, n);
          });
        }
      });
    }
  });
  return {hs, gates};
}

// -> (dxp (T, B, 3H) = dLoss/d(xr, xz, xn), dhp (T, B, 3H) = dLoss/d(hr, hz, hn), dh0 (B, H))
std::tuple<Tensor, Tensor, Tensor> gru_bwd(const Tensor& dy, const Tensor& w_hh, const Tensor& hs,
                                           const Tensor& gates) {
  check(dy, "dy", dy);
  check(gates, "gates", dy);
  const int64_t T = dy.size(0), B = dy.size(1), H = dy.size(2), G = 3 * H;
  Tensor dxp = at::empty({T, B, G}, dy.options()), dhp = at::empty({T, B, G}, dy.options());
  Tensor dh = at::empty({B, H}, dy.options()), carry = at::empty({B, H}, dy.options());
  AT_DISPATCH_FLOATING_TYPES(dy.scalar_type(), "rnnkit_gru_bwd", [&] {
    using T_ = scalar_t;
    const T_* dh_base = dh.data_ptr<T_>();
    T_* cr_base = carry.data_ptr<T_>();
    for (int64_t t = T - 1; t >= 0; --t) {
      // dh_t = dy_t + dh_{t+1} z_{t+1} (the carry, written by step t+1's pass) + dhp_{t+1} W_hh
      if (t == T - 1) dh.copy_(dy[t]); else at::addmm_out(dh, carry, dhp[t + 1], w_hh);
      const T_* g_base = gates.data_ptr<T_>() + t * B * 4 * H;
      const T_* hprev_base = hs.data_ptr<T_>() + t * B * H;
      const T_* dyn_base = t > 0 ? dy.data_ptr<T_>() + (t - 1) * B * H : nullptr;
      T_* dx_base = dxp.data_ptr<T_>() + t * B * G;
      T_* dp_base = dhp.data_ptr<T_>() + t * B * G;
      at::parallel_for(0, B, grain(G), [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const T_ *g = g_base + b * 4 * H, *hprev = hprev_base + b * H, *dhr = dh_base + b * H;
          T_ *dx = dx_base + b * G, *dp = dp_base + b * G, *cr = cr_base + b * H;
          const T_* dyn = dyn_base ? dyn_base + b * H : nullptr;
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            gru_update_bwd<T_>(ld(g, k, n), ld(g + H, k, n), ld(g + 2 * H, k, n), ld(g + 3 * H, k, n), dhr, hprev,
                               dyn, dx, dp, cr, H, k, n);
          });
        }
      });
    }
  });
  Tensor dh0 = T > 0 ? at::addmm(carry, dhp[0], w_hh) : dy.new_zeros({B, H});
  return {dxp, dhp, dh0};
}

// ------------------------------------------------------------------ layer-norm GRU
// [xr xz xn] = LN_ih(x W_ih^T) (gain g_ih, bias b_ih), [hr hz hn] = LN_hh(h_prev W_hh^T) (gain g_hh),
// then the GRU update above with bn = 0. As the layer-norm LSTM of loops.cpp, the node owns every
// (T, B, 3H) buffer: only xr = x W_ih^T (the caller's) and zs = h_prev W_hh^T exist, both saved with
// the row statistics (T, B, 4) = mean and 1/std of LN_ih and LN_hh; the gates live in a per-thread
// row and the backward recomputes them, runs both layer norms' backward in the same pass, and writes
// dLoss/dxr over dxr and dLoss/dzs over dz (the caller passes xr and zs themselves when the graph is
// freed after this backward: each element is read before it is overwritten).

// The activated gates (r, z, n) and hn = LN_hh's n part of one row.
template <typename T>
inline void lngru_gate_row(const T* x, const T* z, const T* s4, const T* gih, const T* bih, const T* ghh, int64_t H,
                           T* g, T* hn) {
  const Vec<T> vmx(s4[0]), vrx(s4[1]), vmz(s4[2]), vrz(s4[3]);
  auto in = [&](int64_t j, int64_t k, int64_t n) {  // LN_ih of part j at lanes [k, k+n)
    Vec<T> v = (ld(x + j * H, k, n) - vmx) * vrx * ld(gih + j * H, k, n);
    return bih ? v + ld(bih + j * H, k, n) : v;
  };
  auto hid = [&](int64_t j, int64_t k, int64_t n) { return (ld(z + j * H, k, n) - vmz) * vrz * ld(ghh + j * H, k, n); };
  for_vec<T>(H, [&](int64_t k, int64_t n) {
    Vec<T> vr = sigm(in(0, k, n) + hid(0, k, n)), vhn = hid(2, k, n);
    st(vr, g, k, n);
    st(sigm(in(1, k, n) + hid(1, k, n)), g + H, k, n);
    st(tnh(in(2, k, n) + vr * vhn), g + 2 * H, k, n);
    st(vhn, hn, k, n);
  });
}

// Layer-norm backward of one row (in place on d): d <- dLoss/d(input) from d = dLoss/d(output), the
// input u, its statistics and gain; the gain's (and bias's) gradients are added into ag (ab).
template <typename T>
inline void ln_row_bwd(T* d, const T* u, T mean, T rstd, const T* gain, int64_t G, T* ag, T* ab) {
  const Vec<T> vm(mean), vr(rstd);
  Vec<T> s1(T(0)), s2(T(0));
  for_vec<T>(G, [&](int64_t k, int64_t n) {
    Vec<T> dv = ld<T>(d, k, n), uh = (ld(u, k, n) - vm) * vr;
    st(ld<T>(ag, k, n) + dv * uh, ag, k, n);
    if (ab) st(ld<T>(ab, k, n) + dv, ab, k, n);
    Vec<T> dg = live(dv * ld(gain, k, n), n);
    s1 = s1 + dg;
    s2 = s2 + dg * uh;
  });
  const Vec<T> m1(hsum(s1) / T(G)), m2(hsum(s2) / T(G));
  for_vec<T>(G, [&](int64_t k, int64_t n) {
    Vec<T> uh = (ld(u, k, n) - vm) * vr;
    st(vr * (ld<T>(d, k, n) * ld(gain, k, n) - m1 - uh * m2), d, k, n);
  });
}

// -> (hs (T+1, B, H), zs (T, B, 3H), stats (T, B, 4))
std::tuple<Tensor, Tensor, Tensor> lngru_fwd(const Tensor& xr, const Tensor& h0, const Tensor& w_hh,
                                             const Tensor& g_ih, const std::optional<Tensor>& b_ih_,
                                             const Tensor& g_hh, double eps_ih, double eps_hh) {
  check(xr, "xr", xr);
  const int64_t T = xr.size(0), B = xr.size(1), G = xr.size(2), H = G / 3;
  Tensor gih = g_ih.contiguous(), bih = opt_contig(b_ih_), ghh = g_hh.contiguous();
  Tensor hs = at::empty({T + 1, B, H}, xr.options()), zs = at::empty({T, B, G}, xr.options());
  Tensor stats = at::empty({T, B, 4}, xr.options());
  hs[0].copy_(h0);
  Tensor wt = w_hh.t();
  AT_DISPATCH_FLOATING_TYPES(xr.scalar_type(), "rnnkit_lngru_fwd", [&] {
    using T_ = scalar_t;
    const T_ *gi = gih.data_ptr<T_>(), *bi = bih.defined() ? bih.data_ptr<T_>() : nullptr, *gh = ghh.data_ptr<T_>();
    for (int64_t t = 0; t < T; ++t) {
      Tensor zt = zs[t];
      at::mm_out(zt, hs[t], wt);
      const T_* z_base = zt.data_ptr<T_>();
      const T_* x_base = xr.data_ptr<T_>() + t * B * G;
      const T_* hprev_base = hs.data_ptr<T_>() + t * B * H;
      T_* h_base = hs.data_ptr<T_>() + (t + 1) * B * H;
      T_* st_base = stats.data_ptr<T_>() + t * B * 4;
      at::parallel_for(0, B, grain(G), [&](int64_t b0, int64_t b1) {
        std::vector<T_> buf(4 * H);  // this row's gates (r, z, n) and hn
        T_ *g = buf.data(), *hn = g + 3 * H;
        for (int64_t b = b0; b < b1; ++b) {
          const T_ *x = x_base + b * G, *z = z_base + b * G, *hprev = hprev_base + b * H;
          T_ *h = h_base + b * H, *s4 = st_base + b * 4;
          std::tie(s4[0], s4[1]) = moments(x, G, eps_ih);
          std::tie(s4[2], s4[3]) = moments(z, G, eps_hh);
          lngru_gate_row<T_>(x, z, s4, gi, bi, gh, H, g, hn);
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            Vec<T_> vn = ld<T_>(g + 2 * H, k, n);
            st(vn + ld<T_>(g + H, k, n) * (ld(hprev, k, n) - vn), h, k, n);
          });
        }
      });
    }
  });
  return {hs, zs, stats};
}

// Writes dLoss/dxr into dxr and dLoss/dzs into dz (either may be xr / zs themselves);
// -> (dh0 (B, H), dg_ih (3H), db_ih (3H) or empty, dg_hh (3H)).
std::tuple<Tensor, Tensor, Tensor, Tensor> lngru_bwd(
    const Tensor& dy, const Tensor& w_hh, const Tensor& g_ih, const std::optional<Tensor>& b_ih_, const Tensor& g_hh,
    const Tensor& hs, const Tensor& xr, const Tensor& zs, const Tensor& stats, const Tensor& dxr, const Tensor& dz) {
  check(dy, "dy", dy);
  check(xr, "xr", dy);
  check(zs, "zs", dy);
  check(dxr, "dxr", dy);
  check(dz, "dz", dy);
  TORCH_CHECK(dxr.sizes() == xr.sizes() && dz.sizes() == zs.sizes(), "rnnkit native GRU loop: dxr / dz must have ",
              "the shapes of xr / zs");
  const int64_t T = dy.size(0), B = dy.size(1), H = dy.size(2), G = 3 * H;
  Tensor gih = g_ih.contiguous(), bih = opt_contig(b_ih_), ghh = g_hh.contiguous();
  Tensor dh = at::empty({B, H}, dy.options()), carry = at::empty({B, H}, dy.options());
  Tensor acc_rows = at::zeros({B, 3 * G}, dy.options());  // per-row sums: g_ih | b_ih | g_hh
  AT_DISPATCH_FLOATING_TYPES(dy.scalar_type(), "rnnkit_lngru_bwd", [&] {
    using T_ = scalar_t;
    const T_ *gi = gih.data_ptr<T_>(), *bi = bih.defined() ? bih.data_ptr<T_>() : nullptr, *gh = ghh.data_ptr<T_>();
    const T_* dh_base = dh.data_ptr<T_>();
    T_* cr_base = carry.data_ptr<T_>();
    T_* accp = acc_rows.data_ptr<T_>();
    for (int64_t t = T - 1; t >= 0; --t) {
      if (t == T - 1) dh.copy_(dy[t]); else at::addmm_out(dh, carry, dz[t + 1], w_hh);
      const T_* x_base = xr.data_ptr<T_>() + t * B * G;
      const T_* z_base = zs.data_ptr<T_>() + t * B * G;
      const T_* st_base = stats.data_ptr<T_>() + t * B * 4;
      const T_* hprev_base = hs.data_ptr<T_>() + t * B * H;
      const T_* dyn_base = t > 0 ? dy.data_ptr<T_>() + (t - 1) * B * H : nullptr;
      T_* dx_base = dxr.data_ptr<T_>() + t * B * G;
      T_* dz_base = dz.data_ptr<T_>() + t * B * G;
      at::parallel_for(0, B, grain(G), [&](int64_t b0, int64_t b1) {
        std::vector<T_> buf(4 * H + 2 * G);  // gates, hn | dLoss/d(LN_ih out) | dLoss/d(LN_hh out)
        T_ *g = buf.data(), *hn = g + 3 * H, *dxo = hn + H, *dho = dxo + G;
        for (int64_t b = b0; b < b1; ++b) {
          const T_ *x = x_base + b * G, *z = z_base + b * G, *s4 = st_base + b * 4;
          const T_ *hprev = hprev_base + b * H, *dhr = dh_base + b * H, *dyn = dyn_base ? dyn_base + b * H : nullptr;
          T_ *ag = accp + b * 3 * G, *cr = cr_base + b * H;
          lngru_gate_row<T_>(x, z, s4, gi, bi, gh, H, g, hn);
          for_vec<T_>(H, [&](int64_t k, int64_t n) {
            gru_update_bwd<T_>(ld<T_>(g, k, n), ld<T_>(g + H, k, n), ld<T_>(g + 2 * H, k, n), ld<T_>(hn, k, n), dhr,
                               hprev, dyn, dxo, dho, cr, H, k, n);
          });
          ln_row_bwd<T_>(dho, z, s4[2], s4[3], gh, G, ag + 2 * G, nullptr);
          ln_row_bwd<T_>(dxo, x, s4[0], s4[1], gi, G, ag, bi ? ag + G : nullptr);
          std::copy(dho, dho + G, dz_base + b * G);  // after every read of z / x: they may be dz / dxr
          std::copy(dxo, dxo + G, dx_base + b * G);
        }
      });
    }
  });
  Tensor dh0 = T > 0 ? at::addmm(carry, dz[0], w_hh) : dy.new_zeros({B, H});
  Tensor acc = acc_rows.sum(0);
  return {dh0, acc.narrow(0, 0, G), bih.defined() ? acc.narrow(0, G, G) : at::empty({0}, dy.options()),
          acc.narrow(0, 2 * G, G)};
}

// ------------------------------------------------------------------ Elman RNN
// h_t = act(xp_t + h_{t-1} W_hh^T), act = tanh | relu (xp holds both biases). Saved: hs only
// (act'(pre) is a function of h: 1 - h^2 for tanh, [h > 0] for relu).
Tensor rnn_fwd(const Tensor& xp, const Tensor& h0, const Tensor& w_hh, bool relu) {
  check(xp, "xp", xp);
  const int64_t T = xp.size(0), B = xp.size(1), H = xp.size(2);
  Tensor hs = at::empty({T + 1, B, H}, xp.options());
  hs[0].copy_(h0);
  Tensor wt = w_hh.t();
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_rnn_fwd", [&] {
    using T_ = scalar_t;
    for (int64_t t = 0; t < T; ++t) {
      Tensor ht = hs[t + 1];
      at::addmm_out(ht, xp[t], hs[t], wt);
      T_* h = ht.data_ptr<T_>();
      at::parallel_for(0, B * H, 16384, [&](int64_t j0, int64_t j1) {
        const Vec<T_> zero(T_(0));
        for_vec<T_>(j1 - j0, [&](int64_t k, int64_t n) {
          Vec<T_> v = ld(h + j0, k, n);
          st(relu ? at::vec::maximum(v, zero) : tnh(v), h + j0, k, n);
        });
      });
    }
  });
  return hs;
}

// -> (dpre (T, B, H) = dLoss/dxp, dh0 (B, H))
std::tuple<Tensor, Tensor> rnn_bwd(const Tensor& dy, const Tensor& w_hh, const Tensor& hs, bool relu) {
  check(dy, "dy", dy);
  check(hs, "hs", dy);
  const int64_t T = dy.size(0), B = dy.size(1), H = dy.size(2);
  Tensor dpre = at::empty({T, B, H}, dy.options());
  AT_DISPATCH_FLOATING_TYPES(dy.scalar_type(), "rnnkit_rnn_bwd", [&] {
    using T_ = scalar_t;
    for (int64_t t = T - 1; t >= 0; --t) {
      Tensor dt = dpre[t];
      if (t == T - 1) dt.copy_(dy[t]); else at::addmm_out(dt, dy[t], dpre[t + 1], w_hh);
      T_* d = dt.data_ptr<T_>();
      const T_* h = hs.data_ptr<T_>() + (t + 1) * B * H;
      at::parallel_for(0, B * H, 16384, [&](int64_t j0, int64_t j1) {
        const Vec<T_> one(T_(1)), zero(T_(0));
        for_vec<T_>(j1 - j0, [&](int64_t k, int64_t n) {
          Vec<T_> vh = ld(h + j0, k, n), vd = ld(d + j0, k, n);
          st(relu ? Vec<T_>::blendv(zero, vd, vh > zero) : vd * (one - vh * vh), d + j0, k, n);
        });
      });
    }
  });
  Tensor dh0 = T > 0 ? at::mm(dpre[0], w_hh) : dy.new_zeros({B, H});
  return {dpre, dh0};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rnnkit_native, m) {
  m.def("gru_fwd(Tensor xp, Tensor h0, Tensor w_hh, Tensor? bn, bool keep) -> (Tensor, Tensor)");
  m.def("gru_bwd(Tensor dy, Tensor w_hh, Tensor hs, Tensor gates) -> (Tensor, Tensor, Tensor)");
  m.def("lngru_fwd(Tensor xr, Tensor h0, Tensor w_hh, Tensor g_ih, Tensor? b_ih, Tensor g_hh, float eps_ih, "
        "float eps_hh) -> (Tensor, Tensor, Tensor)");
  m.def("lngru_bwd(Tensor dy, Tensor w_hh, Tensor g_ih, Tensor? b_ih, Tensor g_hh, Tensor hs, Tensor xr, Tensor zs, "
        "Tensor stats, Tensor(a!) dxr, Tensor(b!) dz) -> (Tensor, Tensor, Tensor, Tensor)");
  m.def("rnn_fwd(Tensor xp, Tensor h0, Tensor w_hh, bool relu) -> Tensor");
  m.def("rnn_bwd(Tensor dy, Tensor w_hh, Tensor hs, bool relu) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(rnnkit_native, CPU, m) {
  m.impl("gru_fwd", &gru_fwd);
  m.impl("gru_bwd", &gru_bwd);
  m.impl("lngru_fwd", &lngru_fwd);
  m.impl("lngru_bwd", &lngru_bwd);
  m.impl("rnn_fwd", &rnn_fwd);
  m.impl("rnn_bwd", &rnn_bwd);
}
