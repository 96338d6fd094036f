// The converter's results are runtime values (a QuantizedModel, its engine): importing the
// converter brings the runtime too.
@_exported import CapsNetRuntime
