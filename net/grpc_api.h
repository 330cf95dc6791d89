/*
 * grpc_api.h: the gRPC C core functions profcol calls, reached through
 * pointers filled by grpc_api_load() (see dynlib.h for why).
 *
 * Include this header instead of <grpc/...>: after the gRPC headers it
 * defines every listed name as a call through the table, so call sites
 * read as plain gRPC (`grpc_init()`). The member types come from the gRPC
 * declarations (__typeof__), so a signature can never drift.
 *
 * To call another gRPC function, add it to PROFCOL_GRPC_FUNCS (or
 * PROFCOL_GPR_FUNCS for gpr_*) *and* add its #define below. A name missing
 * from the list fails at link time (libgrpc is not linked); a #define
 * without a list entry fails to compile.
 */
#ifndef PROFCOL_GRPC_API_H
#define PROFCOL_GRPC_API_H

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/compression.h>
#include <grpc/grpc.h>
#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "core/err.h"

/* Functions of libgrpc. */
#define PROFCOL_GRPC_FUNCS(X)                                                 \
    X(grpc_init)                                                              \
    X(grpc_shutdown)                                                          \
    X(grpc_byte_buffer_destroy)                                               \
    X(grpc_byte_buffer_reader_destroy)                                        \
    X(grpc_byte_buffer_reader_init)                                           \
    X(grpc_byte_buffer_reader_next)                                           \
    X(grpc_byte_buffer_reader_readall)                                        \
    X(grpc_raw_byte_buffer_create)                                            \
    X(grpc_raw_compressed_byte_buffer_create)                                 \
    X(grpc_call_cancel)                                                       \
    X(grpc_call_details_destroy)                                              \
    X(grpc_call_details_init)                                                 \
    X(grpc_call_get_peer)                                                     \
    X(grpc_call_start_batch)                                                  \
    X(grpc_call_unref)                                                        \
    X(grpc_channel_create)                                                    \
    X(grpc_channel_create_call)                                               \
    X(grpc_channel_credentials_release)                                       \
    X(grpc_channel_destroy)                                                   \
    X(grpc_completion_queue_create_for_next)                                  \
    X(grpc_completion_queue_create_for_pluck)                                 \
    X(grpc_completion_queue_destroy)                                          \
    X(grpc_completion_queue_next)                                             \
    X(grpc_completion_queue_pluck)                                            \
    X(grpc_completion_queue_shutdown)                                         \
    X(grpc_insecure_credentials_create)                                       \
    X(grpc_insecure_server_credentials_create)                                \
    X(grpc_metadata_array_destroy)                                            \
    X(grpc_metadata_array_init)                                               \
    X(grpc_server_add_channel_from_fd)                                        \
    X(grpc_server_add_http2_port)                                             \
    X(grpc_server_cancel_all_calls)                                           \
    X(grpc_server_create)                                                     \
    X(grpc_server_credentials_release)                                        \
    X(grpc_server_destroy)                                                    \
    X(grpc_server_register_completion_queue)                                  \
    X(grpc_server_register_method)                                            \
    X(grpc_server_request_call)                                               \
    X(grpc_server_request_registered_call)                                    \
    X(grpc_server_shutdown_and_notify)                                        \
    X(grpc_server_start)                                                      \
    X(grpc_empty_slice)                                                       \
    X(grpc_slice_from_copied_buffer)                                          \
    X(grpc_slice_from_copied_string)                                          \
    X(grpc_slice_from_static_string)                                          \
    X(grpc_slice_new)                                                         \
    X(grpc_slice_new_with_user_data)                                          \
    X(grpc_slice_str_cmp)                                                     \
    X(grpc_slice_unref)                                                       \
    X(grpc_ssl_credentials_create)                                            \
    X(grpc_ssl_server_credentials_create_ex)                                  \
    X(grpc_tls_certificate_provider_release)                                  \
    X(grpc_tls_certificate_provider_static_data_create)                       \
    X(grpc_tls_certificate_verifier_no_op_create)                             \
    X(grpc_tls_certificate_verifier_release)                                  \
    X(grpc_tls_credentials_create)                                            \
    X(grpc_tls_credentials_options_create)                                    \
    X(grpc_tls_credentials_options_set_certificate_provider)                  \
    X(grpc_tls_credentials_options_set_certificate_verifier)                  \
    X(grpc_tls_credentials_options_set_check_call_host)                       \
    X(grpc_tls_credentials_options_set_verify_server_cert)                    \
    X(grpc_tls_credentials_options_watch_identity_key_cert_pairs)             \
    X(grpc_tls_identity_pairs_add_pair)                                       \
    X(grpc_tls_identity_pairs_create)

/* Functions of libgpr (gRPC's portability library). */
#define PROFCOL_GPR_FUNCS(X)                                                  \
    X(gpr_free)                                                               \
    X(gpr_inf_future)                                                         \
    X(gpr_now)                                                                \
    X(gpr_time_add)                                                           \
    X(gpr_time_from_millis)

struct grpc_api {
#define GRPC_API_MEMBER(name) __typeof__(&name) name;
    PROFCOL_GRPC_FUNCS(GRPC_API_MEMBER)
    PROFCOL_GPR_FUNCS(GRPC_API_MEMBER)
#undef GRPC_API_MEMBER
};

extern struct grpc_api grpc_api;

/*
 * Loads libgrpc and libgpr (sonames fixed at build time) and fills
 * grpc_api. Idempotent and thread-safe; the outcome of the first call is
 * kept. PC_OK, or PC_EUNSUPPORTED with e = "gRPC library not available:
 * libgrpc.so.29: cannot open shared object file: ...". Every component
 * that uses gRPC calls it when it is created.
 */
int grpc_api_load(struct errctx *e);

#ifndef PROFCOL_GRPC_API_IMPL
#define grpc_init (grpc_api.grpc_init)
#define grpc_shutdown (grpc_api.grpc_shutdown)
#define grpc_byte_buffer_destroy (grpc_api.grpc_byte_buffer_destroy)
#define grpc_byte_buffer_reader_destroy                                       \
    (grpc_api.grpc_byte_buffer_reader_destroy)
#define grpc_byte_buffer_reader_init (grpc_api.grpc_byte_buffer_reader_init)
#define grpc_byte_buffer_reader_next (grpc_api.grpc_byte_buffer_reader_next)
#define grpc_byte_buffer_reader_readall                                       \
    (grpc_api.grpc_byte_buffer_reader_readall)
#define grpc_raw_byte_buffer_create (grpc_api.grpc_raw_byte_buffer_create)
#define grpc_raw_compressed_byte_buffer_create                                \
    (grpc_api.grpc_raw_compressed_byte_buffer_create)
#define grpc_call_cancel (grpc_api.grpc_call_cancel)
#define grpc_call_details_destroy (grpc_api.grpc_call_details_destroy)
#define grpc_call_details_init (grpc_api.grpc_call_details_init)
#define grpc_call_get_peer (grpc_api.grpc_call_get_peer)
#define grpc_call_start_batch (grpc_api.grpc_call_start_batch)
#define grpc_call_unref (grpc_api.grpc_call_unref)
#define grpc_channel_create (grpc_api.grpc_channel_create)
#define grpc_channel_create_call (grpc_api.grpc_channel_create_call)
#define grpc_channel_credentials_release                                      \
    (grpc_api.grpc_channel_credentials_release)
#define grpc_channel_destroy (grpc_api.grpc_channel_destroy)
#define grpc_completion_queue_create_for_next                                 \
    (grpc_api.grpc_completion_queue_create_for_next)
#define grpc_completion_queue_create_for_pluck                                \
    (grpc_api.grpc_completion_queue_create_for_pluck)
#define grpc_completion_queue_destroy (grpc_api.grpc_completion_queue_destroy)
#define grpc_completion_queue_next (grpc_api.grpc_completion_queue_next)
#define grpc_completion_queue_pluck (grpc_api.grpc_completion_queue_pluck)
#define grpc_completion_queue_shutdown                                        \
    (grpc_api.grpc_completion_queue_shutdown)
#define grpc_insecure_credentials_create                                      \
    (grpc_api.grpc_insecure_credentials_create)
#define grpc_insecure_server_credentials_create                               \
    (grpc_api.grpc_insecure_server_credentials_create)
#define grpc_metadata_array_destroy (grpc_api.grpc_metadata_array_destroy)
#define grpc_metadata_array_init (grpc_api.grpc_metadata_array_init)
#define grpc_server_add_channel_from_fd                                       \
    (grpc_api.grpc_server_add_channel_from_fd)
#define grpc_server_add_http2_port (grpc_api.grpc_server_add_http2_port)
#define grpc_server_cancel_all_calls (grpc_api.grpc_server_cancel_all_calls)
#define grpc_server_create (grpc_api.grpc_server_create)
#define grpc_server_credentials_release                                       \
    (grpc_api.grpc_server_credentials_release)
#define grpc_server_destroy (grpc_api.grpc_server_destroy)
#define grpc_server_register_completion_queue                                 \
    (grpc_api.grpc_server_register_completion_queue)
#define grpc_server_register_method (grpc_api.grpc_server_register_method)
#define grpc_server_request_call (grpc_api.grpc_server_request_call)
#define grpc_server_request_registered_call                                   \
    (grpc_api.grpc_server_request_registered_call)
#define grpc_server_shutdown_and_notify                                       \
    (grpc_api.grpc_server_shutdown_and_notify)
#define grpc_server_start (grpc_api.grpc_server_start)
#define grpc_empty_slice (grpc_api.grpc_empty_slice)
#define grpc_slice_from_copied_buffer (grpc_api.grpc_slice_from_copied_buffer)
#define grpc_slice_from_copied_string (grpc_api.grpc_slice_from_copied_string)
#define grpc_slice_from_static_string (grpc_api.grpc_slice_from_static_string)
#define grpc_slice_new (grpc_api.grpc_slice_new)
#define grpc_slice_new_with_user_data (grpc_api.grpc_slice_new_with_user_data)
#define grpc_slice_str_cmp (grpc_api.grpc_slice_str_cmp)
#define grpc_slice_unref (grpc_api.grpc_slice_unref)
#define grpc_ssl_credentials_create (grpc_api.grpc_ssl_credentials_create)
#define grpc_ssl_server_credentials_create_ex                                 \
    (grpc_api.grpc_ssl_server_credentials_create_ex)
#define grpc_tls_certificate_provider_release                                 \
    (grpc_api.grpc_tls_certificate_provider_release)
#define grpc_tls_certificate_provider_static_data_create                      \
    (grpc_api.grpc_tls_certificate_provider_static_data_create)
#define grpc_tls_certificate_verifier_no_op_create                            \
    (grpc_api.grpc_tls_certificate_verifier_no_op_create)
#define grpc_tls_certificate_verifier_release                                 \
    (grpc_api.grpc_tls_certificate_verifier_release)
#define grpc_tls_credentials_create (grpc_api.grpc_tls_credentials_create)
#define grpc_tls_credentials_options_create                                   \
    (grpc_api.grpc_tls_credentials_options_create)
#define grpc_tls_credentials_options_set_certificate_provider                 \
    (grpc_api.grpc_tls_credentials_options_set_certificate_provider)
#define grpc_tls_credentials_options_set_certificate_verifier                 \
    (grpc_api.grpc_tls_credentials_options_set_certificate_verifier)
#define grpc_tls_credentials_options_set_check_call_host                      \
    (grpc_api.grpc_tls_credentials_options_set_check_call_host)
#define grpc_tls_credentials_options_set_verify_server_cert                   \
    (grpc_api.grpc_tls_credentials_options_set_verify_server_cert)
#define grpc_tls_credentials_options_watch_identity_key_cert_pairs            \
    (grpc_api.grpc_tls_credentials_options_watch_identity_key_cert_pairs)
#define grpc_tls_identity_pairs_add_pair                                      \
    (grpc_api.grpc_tls_identity_pairs_add_pair)
#define grpc_tls_identity_pairs_create                                        \
    (grpc_api.grpc_tls_identity_pairs_create)
#define gpr_inf_future (grpc_api.gpr_inf_future)
#define gpr_now (grpc_api.gpr_now)
#define gpr_time_add (grpc_api.gpr_time_add)
#define gpr_free (grpc_api.gpr_free)
#define gpr_time_from_millis (grpc_api.gpr_time_from_millis)
#endif

#endif
